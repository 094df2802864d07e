"""The end-of-session debrief: aggregates by rule, better phrasings and advice by the model.

Deterministic: pass rate per criterion, overall score (mean turn score), escalation curve, the
two best and two worst turns (by turn score, quoted). The model writes, in one JSON-constrained
call, a better phrasing for each failed criterion at the moment it failed (at most
``MAX_IMPROVEMENTS``, worst turns first) and one concrete next exercise. When the model fails,
the rubric's own passing example stands in as the better phrasing and the next exercise targets
the criterion failed most, so a debrief is always produced.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Annotated, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.output_parsers import JsonOutputParser
from langchain_core.runnables import RunnableLambda
from pydantic import ConfigDict, Field, create_model

from actor.evaluator.assessment import Debrief, Improvement, Moment
from actor.evaluator.request import LANGUAGE_NAMES, RejectedAnswer, load_prompt, retrying
from actor.evaluator.rubric import CRITERIA, Rubric, default_rubric
from actor.llm import json_mode

if TYPE_CHECKING:  # the record imports this package's assessment types
    from actor.record import TurnRecord

MAX_IMPROVEMENTS = 4

LABELS = {
    "nl": {
        "title": "Nabespreking", "overall": "Totaalscore", "turns": "beurten", "rates": "Per criterium",
        "best": "Sterkste momenten", "worst": "Zwakste momenten", "improve": "Zo kan het beter",
        "curve": "Escalatieverloop", "next": "Volgende oefening", "turn": "beurt", "said": "Je zei",
        "better": "Beter", "na": "n.v.t.",
    },
    "en": {
        "title": "Debrief", "overall": "Overall score", "turns": "turns", "rates": "Per criterion",
        "best": "Best moments", "worst": "Weakest moments", "improve": "How to do better",
        "curve": "Escalation curve", "next": "Next exercise", "turn": "turn", "said": "You said",
        "better": "Better", "na": "n/a",
    },
}


def _excerpt(text: str, words: int = 30) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def aggregate(turns: Sequence[TurnRecord]) -> tuple[dict[str, float | None], float | None]:
    """``(pass rate per criterion, overall score)`` of graded turns (every ``assessment`` set); a
    rate is ``None`` when it never applied."""
    rates: dict[str, float | None] = {}
    for cid in CRITERIA:
        graded = [t.assessment.criteria[cid].verdict for t in turns if t.assessment.criteria[cid].verdict in ("pass", "fail")]
        rates[cid] = sum(v == "pass" for v in graded) / len(graded) if graded else None
    scores = [t.assessment.score for t in turns if t.assessment.score is not None]
    return rates, (statistics.fmean(scores) if scores else None)


def write_debrief(
    turns: Sequence[TurnRecord],
    lang: str,
    model: BaseChatModel | None,
    model_id: str = "",
    rubric: Rubric | None = None,
    retries: int = 1,
) -> Debrief:
    """The debrief of a session: ``turns`` are its :class:`~actor.record.TurnRecord`\\ s in
    order, every one graded (``assessment`` set). ``model=None`` skips the model part.

    Raises ``ValueError`` for a session without turns.
    """
    if not turns:
        raise ValueError("a debrief needs at least one turn")
    rubric = rubric or default_rubric()
    rates, overall = aggregate(turns)
    ranked = sorted((t for t in turns if t.assessment.score is not None), key=lambda t: t.assessment.score)
    # best: the two highest-scoring turns that passed at least half; worst: the two lowest that
    # failed something and are not among the best (a flawless session has no worst moments)
    best_turns = [t for t in reversed(ranked) if t.assessment.score >= 0.5][:2]
    worst_turns = [t for t in ranked if t.assessment.score < 1 and t not in best_turns][:2]

    def moment(t: TurnRecord, good: bool) -> Moment:
        wanted = "pass" if good else "fail"
        names = [rubric.criterion(c).name(lang) for c, r in t.assessment.criteria.items() if r.verdict == wanted]
        return Moment(turn=t.number, quote=_excerpt(t.reply), why=", ".join(names) or t.assessment.tip)

    failures = [(t, cid) for t in sorted(turns, key=lambda t: t.assessment.score or 0.0)
                for cid, r in t.assessment.criteria.items() if r.verdict == "fail"][:MAX_IMPROVEMENTS]
    improvements = [Improvement(criterion=cid, turn=t.number, said=_excerpt(t.reply), better=rubric.criterion(cid).examples.good(lang))
                    for t, cid in failures]
    most_failed = min((c for c in CRITERIA if rates[c] is not None), key=lambda c: rates[c], default=None)
    next_exercise = (
        f"{LABELS[lang]['next']}: {rubric.criterion(most_failed).name(lang)} — {rubric.criterion(most_failed).passes_when(lang)}"
        if most_failed else ""
    )
    if model is not None and (failures or most_failed):
        written = _model_part(model, lang, failures, most_failed, rubric, retries)
        if written:
            for imp, better in zip(improvements, written["better"]):
                if better.strip():
                    imp.better = better.strip()
            next_exercise = written["next_exercise"].strip() or next_exercise
    debrief = Debrief(
        lang=lang, turns=len(turns), pass_rates=rates, overall=overall,
        best=[moment(t, True) for t in best_turns], worst=[moment(t, False) for t in worst_turns],
        improvements=improvements, escalation=[t.state_after.level for t in turns], next_exercise=next_exercise,
        model_id=model_id,
    )
    debrief.markdown = render_markdown(debrief, rubric)
    return debrief


def debrief_schema(n: int) -> dict:
    """JSON schema of the model's part: exactly ``n`` better phrasings and one next exercise."""
    return create_model(
        "DebriefText", __config__=ConfigDict(extra="forbid"),
        better=(list[Annotated[str, Field(max_length=240)]], Field(min_length=n, max_length=n)),
        next_exercise=(str, Field(max_length=300)),
    ).model_json_schema()


def _model_part(model, lang, failures, most_failed, rubric, retries) -> dict | None:
    prompt = load_prompt("debrief")
    items = "\n".join(
        f"{i}. turn {t.number}, criterion {rubric.criterion(cid).name('en')} ({rubric.criterion(cid).passes_when('en')})\n"
        f"   customer: \"{t.customer_line}\"\n   employee: \"{t.reply}\""
        for i, (t, cid) in enumerate(failures, 1)
    ) or "(none)"
    user = prompt.user.format(items=items, weakest=rubric.criterion(most_failed).name("en") if most_failed else "none",
                              language=LANGUAGE_NAMES.get(lang, "English"), n=len(failures))

    def checked(answer: dict) -> dict:
        if isinstance(answer.get("better"), list) and len(answer["better"]) == len(failures) and isinstance(answer.get("next_exercise"), str):
            return answer
        raise RejectedAnswer(f"not {len(failures)} better phrasings and a next exercise")

    chain = json_mode(model, debrief_schema(len(failures)), "debrief") | JsonOutputParser() | RunnableLambda(checked)
    try:
        return retrying(chain, retries).invoke([SystemMessage(prompt.system), HumanMessage(user)])
    except Exception:  # parse errors, rejected answers, timeouts: fall back to the rubric's examples
        return None


def render_markdown(d: Debrief, rubric: Rubric) -> str:
    """The debrief as Markdown in the session's language."""
    L = LABELS[d.lang]
    pct = lambda v: f"{v * 100:.0f}%" if v is not None else L["na"]  # noqa: E731
    lines = [f"# {L['title']}", "", f"**{L['overall']}: {pct(d.overall)}** ({d.turns} {L['turns']})", "", f"## {L['rates']}", ""]
    lines += [f"- {rubric.criterion(c).name(d.lang)}: {pct(r)}" for c, r in d.pass_rates.items()]
    for key, moments in (("best", d.best), ("worst", d.worst)):
        lines += ["", f"## {L[key]}", ""]
        lines += [f"- {L['turn']} {m.turn}: “{m.quote}” — {m.why}" for m in moments]
    if d.improvements:
        lines += ["", f"## {L['improve']}", ""]
        for imp in d.improvements:
            lines += [f"- **{rubric.criterion(imp.criterion).name(d.lang)}** ({L['turn']} {imp.turn})",
                      f"  - {L['said']}: “{imp.said}”", f"  - {L['better']}: “{imp.better}”"]
    lines += ["", f"## {L['curve']}", "", " → ".join(f"L{x}" for x in d.escalation)]
    if d.next_exercise:
        lines += ["", f"## {L['next']}", "", d.next_exercise]
    return "\n".join(lines) + "\n"
