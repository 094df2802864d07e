"""The previous per-turn grading, kept as the baseline the judgement eval compares with
(``python -m evals.judgement --part old``; ``python -m evals.evaluator``): the chat model grades
one trainee reply → a :class:`~actor.evaluator.TurnAssessment`. The app judges with
:mod:`actor.judgement` instead (fitted heads, no model call for the verdicts).

One call, end to end (:meth:`Grader.grade`):

1. applicability by rule (:func:`actor.evaluator.rubric.applicable`): n/a criteria are never
   sent to the model;
2. grader-directed sentences in the reply are masked (:func:`rules.mask_injection`);
3. the model answers in JSON constrained to a schema (reason → evidence → verdict), one short
   call per applicable criterion with the turn's context as a shared, cached prefix, then one
   call for tone and tip; at the evaluator's temperature (0 by default); invalid output is
   retried up to ``retries`` times;
4. evidence quotes not found in the reply are dropped;
5. deterministic failure signs override a model "pass" (:mod:`actor.evaluator.rules`);
6. the move for the persona's state machine is derived from the verdicts.

When the model keeps failing, the turn is still assessed: ``status="rules_only"`` with the
deterministic findings and ``verdict=None`` for the rest, so no trainee turn is lost.
"""

from __future__ import annotations

import time
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.output_parsers import JsonOutputParser
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel, ConfigDict, Field, create_model

from actor.domain import LEVEL_DESCRIPTIONS
from actor.evaluator import rules
from actor.evaluator.assessment import CriterionResult, TurnAssessment, classify_move
from actor.evaluator.request import LANGUAGE_NAMES, GradeRequest, RejectedAnswer, load_prompt, retrying
from actor.evaluator.rubric import Rubric, applicable, default_rubric
from actor.llm import invoke_when_idle, json_mode, preemptible

REASON_MAX = 240  # characters per reason (keeps the small model's output short)
TIP_MAX = 200


def clip(text: str, limit: int) -> str:
    """``text`` as a reader should see it: when it reached ``limit`` characters (the schema's cap
    cut it off), up to its last sentence end, else its last whole word and an ellipsis."""
    if len(text) < limit - 1:
        return text
    end = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
    return text[: end + 1] if end > limit // 2 else text[: text.rfind(" ")].rstrip(",;:") + "…"


def render_rubric(rubric: Rubric, lang: str = "en") -> str:
    """The rubric as prompt text in ``lang``: per criterion its pass rule, checks and two examples."""
    lines = ["Rubric criteria:"]
    for c in rubric.criteria:
        lines.append(f"- {c.id}: passes when {c.passes_when(lang)[0].lower()}{c.passes_when(lang)[1:]}")
        lines += [f"    check: {check(lang)}" for check in c.checks]
        lines.append(f'    pass example: "{c.examples.good(lang)}"  fail example: "{c.examples.bad(lang)}"')
    return "\n".join(lines)


# The answer models below only describe the JSON the model must write: their schema constrains
# its output (no docstrings: they would reach OpenAI-compatible endpoints as descriptions). The
# answers are checked as dicts where they are asked for.


class CriterionGrade(BaseModel):  # one criterion, in the order the model writes it
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=REASON_MAX)
    evidence: str = Field(max_length=REASON_MAX)
    verdict: Literal["pass", "fail"]


class ToneTip(BaseModel):  # the closing answer: the reply's tone (1 = hostile … 5 = warm) and a tip
    model_config = ConfigDict(extra="forbid")
    tone: int = Field(ge=1, le=5)
    tip: str = Field(max_length=TIP_MAX)


def grade_schema(criteria: list[str]) -> dict:
    """JSON schema of a joint answer for these criteria (reason before verdict), tone and tip."""
    fields = {cid: (CriterionGrade, ...) for cid in criteria}
    fields.update({name: (f.annotation, f) for name, f in ToneTip.model_fields.items()})
    return create_model("TurnGrade", __config__=ConfigDict(extra="forbid"), **fields).model_json_schema()


def turn_fields(req: GradeRequest, reply: str) -> dict[str, object]:
    """The placeholders every grading prompt fills from one turn; the customer's line and the
    (masked) reply cannot close their delimiters."""
    return {
        "scenario": req.scenario or "a customer service conversation",
        "level": req.level,
        "level_name": LEVEL_DESCRIPTIONS[req.level],
        "aggression_type": req.aggression_type,
        "policy": "\n".join(f"- {p.strip()}" for p in req.policy) or "- (no policy facts given)",
        "customer": req.customer_line.replace("</customer>", ""),
        "reply": reply.replace("</reply>", ""),
    }


class Grader:
    """Grades trainee replies with a chat model (``model``: any LangChain chat model).

    ``model_id`` is stored in every assessment; ``retries`` bounds the extra attempts after an
    invalid answer or a failed call. ``mode``: ``per_criterion`` (default; one short call per
    applicable criterion plus one for tone and tip, ``prompts/evaluator/criterion.yaml``) or
    ``joint`` (all criteria in one call, ``prompts/evaluator/grade.yaml``). ``before_call``: a
    function called before each model call (the app passes one that waits while a customer
    line is being generated, so grading never slows the customer down); ``yield_to``: a function
    that is true while more urgent work waits: a local generation in flight then stops between
    tokens and is asked again once ``before_call`` returns. On the gold set the
    embedded model is less lenient per criterion (κ > 0 on five criteria instead of two; see
    ``python -m evals.evaluator --mode``).
    """

    def __init__(self, model: BaseChatModel, model_id: str, rubric: Rubric | None = None, retries: int = 2,
                 mode: Literal["per_criterion", "joint"] = "per_criterion", before_call=None, yield_to=None) -> None:
        self.before_call = before_call or (lambda: None)  # e.g. wait while a customer line is generated
        self.yield_to = yield_to
        self.model = model
        self.model_id = model_id
        self.rubric = rubric or default_rubric()
        self.mode = mode
        self.prompt = load_prompt("grade" if mode == "joint" else "criterion")
        self.retries = retries
        self.system = self.prompt.system.format(rubric=render_rubric(self.rubric)) if mode == "joint" else self.prompt.system

    def _ask_per_criterion(self, req: GradeRequest, criteria: list[str], reply: str) -> dict:
        """One short constrained call per criterion; the shared context is a reusable prefix."""
        context = self.prompt.context.format(**turn_fields(req, reply))
        reply_only = self.prompt.context.format(**{**turn_fields(req, reply), "customer": "(left out: judge the employee's words only)"})
        answer: dict = {}
        chain = self._json(CriterionGrade.model_json_schema(), "criterion_grade")
        for cid in criteria:
            c = self.rubric.criterion(cid)
            question = self.prompt.question.format(
                name=c.name("en"), passes_when=c.passes_when("en")[0].lower() + c.passes_when("en")[1:],
                checks="\n".join(f"- {check('en')}" for check in c.checks),
                good=c.examples.good("en"), bad=c.examples.bad("en"), language=LANGUAGE_NAMES.get(req.lang, "English"),
            )
            out = self._invoke(chain, [SystemMessage(self.system), HumanMessage(context + question)])
            if not isinstance(out, dict) or out.get("verdict") not in ("pass", "fail"):
                raise RejectedAnswer(f"no valid verdict for {cid}")
            evidence = str(out.get("evidence", ""))
            if out["verdict"] == "fail" and evidence and not rules.quote_in(evidence, reply) and rules.quote_in(
                    evidence, req.customer_line):
                # the model judged the customer's words: ask again with the reply alone
                out = self._invoke(chain, [SystemMessage(self.system), HumanMessage(reply_only + question)])
                if not isinstance(out, dict) or out.get("verdict") not in ("pass", "fail"):
                    raise RejectedAnswer(f"no valid verdict for {cid}")
            answer[cid] = out
        closing = (f"\nRate the tone of the employee's reply (1 = hostile, 2 = cold or curt, 3 = neutral, "
                   f"4 = polite, 5 = warm and respectful) and write one short coaching tip in "
                   f"{LANGUAGE_NAMES.get(req.lang, 'English')}.")
        out = self._invoke(self._json(ToneTip.model_json_schema(), "tone_tip"),
                           [SystemMessage(self.system), HumanMessage(context + closing)])
        answer.update(tone=out.get("tone"), tip=out.get("tip", ""))
        return answer

    def _json(self, schema: dict, name: str):
        bound = json_mode(self.model, schema, name)
        return (preemptible(bound, self.yield_to) if self.yield_to else bound) | JsonOutputParser()

    def _invoke(self, chain, messages: list):
        """One model call after ``before_call``; a preempted call waits and is asked again."""
        return invoke_when_idle(chain, messages, self.before_call)

    def messages(self, req: GradeRequest, criteria: list[str], reply: str) -> list:
        """The chat messages for one grading call (system part identical across turns)."""
        user = self.prompt.user.format(
            **turn_fields(req, reply), criteria=", ".join(criteria), language=LANGUAGE_NAMES.get(req.lang, "English")
        )
        return [SystemMessage(self.system), HumanMessage(user)]

    def _ask(self, req: GradeRequest, criteria: list[str], reply: str) -> dict:
        schema = grade_schema(criteria)
        answer = self._invoke(self._json(schema, "turn_grade"), self.messages(req, criteria, reply))
        if not isinstance(answer, dict):
            raise RejectedAnswer("the answer is not a JSON object")
        for cid in criteria:
            item = answer.get(cid)
            if not isinstance(item, dict) or item.get("verdict") not in ("pass", "fail"):
                raise RejectedAnswer(f"no valid verdict for {cid}")
        return answer

    def grade(self, req: GradeRequest) -> TurnAssessment:
        """Grade one reply. Never raises for model trouble (see module docstring); raises
        ``ValueError`` for an empty reply or a level outside 0–4."""
        if not req.reply.strip():
            raise ValueError("empty reply: nothing to grade")
        start = time.perf_counter()
        criteria = applicable(self.rubric, req.level, req.aggression_type, req.tactic)
        masked, injection = rules.mask_injection(req.reply)
        ask = self._ask if self.mode == "joint" else self._ask_per_criterion
        # one attempt is the whole ask (every call of it waits in before_call first)
        attempts = retrying(RunnableLambda(lambda _: ask(req, criteria, masked)), self.retries)
        answer, error = None, None
        try:
            answer = attempts.invoke(None)
        except Exception as exc:  # the last attempt's: parser errors, validation, timeouts, HTTP errors
            error = f"{type(exc).__name__}: {exc}"[:300]
        results: dict[str, CriterionResult] = {}
        for c in self.rubric.criteria:
            if c.id not in criteria:
                results[c.id] = CriterionResult(reason="not applicable at this level", verdict="n/a", source="applicability")
            elif answer is not None:
                item = answer[c.id]
                evidence = str(item.get("evidence", ""))
                results[c.id] = CriterionResult(
                    reason=clip(str(item.get("reason", "")).strip(), REASON_MAX),
                    evidence=evidence.strip() if rules.quote_in(evidence, req.reply) else "",
                    verdict=item["verdict"],
                )
            else:
                results[c.id] = CriterionResult(reason="not graded: the model did not answer", verdict=None, source="rules")
        for finding in rules.findings(req.reply, req.allowed):
            if finding.criterion in criteria and results[finding.criterion].verdict != "fail":
                results[finding.criterion] = CriterionResult(
                    reason=finding.reason, evidence=finding.evidence, verdict="fail", source="rules"
                )
        verdicts = {cid: r.verdict for cid, r in results.items()}
        tone = answer.get("tone") if answer else None
        return TurnAssessment(
            criteria=results,
            tip=str(answer.get("tip", "")).strip() if answer else "",
            tone=tone if isinstance(tone, int) and 1 <= tone <= 5 else None,
            move=classify_move(verdicts),
            status="graded" if answer is not None else "rules_only",
            error=None if answer is not None else error,
            injection_suspected=injection,
            rubric_sha256=self.rubric.sha256,
            prompt_sha256=self.prompt.sha256,
            model_id=self.model_id,
            seconds=time.perf_counter() - start,
        )


class Tone(BaseModel):  # a tone judgement (schema only, see CriterionGrade): a reason, then the tone
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=120)
    tone: int = Field(ge=1, le=5)


def _tone_of(answer: dict) -> tuple[str, int]:
    tone = int(answer["tone"])
    if not 1 <= tone <= 5:
        raise RejectedAnswer(f"tone {tone} out of range")
    return str(answer.get("reason", "")), tone


class ToneJudge:
    """Rates the tone of one message on the rubric's 1–5 scale, with a reason.

    ``rate(text) -> (reason, tone)``; raises ``ValueError`` when the model's answer is invalid
    after ``retries`` extra attempts.
    """

    def __init__(self, model: BaseChatModel, retries: int = 2) -> None:
        self.prompt = load_prompt("tone")
        checked = json_mode(model, Tone.model_json_schema(), "tone") | JsonOutputParser() | RunnableLambda(_tone_of)
        self.chain = retrying(checked, retries)
        self.retries = retries

    def rate(self, text: str) -> tuple[str, int]:
        messages = [SystemMessage(self.prompt.system), HumanMessage(self.prompt.user.format(text=text.replace("</message>", "")))]
        try:
            return self.chain.invoke(messages)
        except Exception as exc:
            raise ValueError(f"no valid tone judgement: {type(exc).__name__}: {exc}") from exc
