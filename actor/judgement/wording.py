"""The words of the feedback: per failed criterion one sentence about the trainee's own words,
and one better phrasing of this reply, in the session's language.

The verdicts are fixed before the model is asked (:meth:`actor.judgement.judge.Judge.verdicts`).
The quoted words are not left to the model either: for each failed criterion the judgement
picks the sentence of the reply that the criterion's head scores lowest
(:meth:`~actor.judgement.judge.Judge.weakest_sentence`; a rule's own match when a rule decided),
so every quote is in the reply. The model (``prompts/judgement/wording.yaml``, one
JSON-constrained call) then writes the "why" per criterion and a better phrasing. Checks:

- a "why" is cut to its first sentence; one not in the session's language
  (:func:`language_of`), with words no dictionary of that language knows
  (:func:`unknown_words`), that praises what failed (:func:`contradicts`) or that reads the
  criterion's pass rule back ("the reply contains no sarcasm…" for a failure) is rejected;
- the better phrasing must be in the session's language, must not copy the reply, and is itself
  judged (``judge_tip``): it must keep calm, promise nothing outside policy and score at least
  as well as the reply, else it is rejected.

A rejected answer is asked again once; what is still rejected falls back to the rubric's own
text (:func:`rubric_wording`), so the trainee never reads a reason that contradicts its verdict
or a tip that teaches a false promise.
"""

from __future__ import annotations

import re
from pathlib import Path

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.output_parsers import JsonOutputParser
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel, ConfigDict, Field, create_model

from actor import prompt_files
from actor.evaluator import rules
from actor.evaluator.assessment import TurnAssessment
from actor.evaluator.grader import GradeRequest, RejectedAnswer, retrying
from actor.evaluator.rubric import Rubric
from actor.llm import invoke_when_idle, json_mode, preemptible
from actor.prompt_files import WordingPrompt  # noqa: F401  (re-exported)

LANGUAGE_NAMES = {"nl": "Dutch (Nederlands)", "en": "English"}
WHY_MAX = 200
_ABOUT_THE_REPLY = (  # a "better phrasing" that talks about the reply instead of being one
    r"\b(?:de klant|het antwoord|zou (?:je |ik )?(?:kunnen |hebben )*(?:zeggen|gezegd)|the customer|the reply|the answer"
    r"|(?:could|would|should) (?:have )?(?:say|said))\b")
BETTER_MAX = 300
_STOP = {
    "nl": {"de", "het", "een", "en", "van", "is", "dat", "niet", "je", "u", "ik", "wat", "om", "op", "te", "in", "zijn",
           "met", "voor", "er", "maar", "ook", "als", "bij", "wel", "nog", "kan", "dit", "geen", "hebt", "heeft", "uw",
           "klant", "zou", "had", "naar", "jouw", "jij", "mag", "wordt", "of", "hoe", "waarom", "antwoord", "gevoel"},
    "en": {"the", "a", "an", "and", "of", "is", "that", "not", "you", "i", "what", "to", "on", "in", "are", "with", "for",
           "there", "but", "also", "as", "at", "can", "this", "no", "have", "has", "your", "customer", "would", "had",
           "it", "be", "or", "how", "why", "reply", "feeling", "could", "they", "their", "was", "did", "does"},
}
_PRAISE = {
    "nl": r"\b(goed gedaan|goed zo|prima|uitstekend|voldoet|terecht|correct|sterk|netjes|mooi)\b",
    "en": r"\b(well done|good job|great|excellent|passes|meets the|correctly|nicely|strong|appropriate(?:ly)?)\b",
}


def load_wording_prompt(path: Path | None = None) -> tuple[WordingPrompt, str]:
    """``(prompt, sha256 of the file)``, default the shipped ``prompts/judgement/wording.yaml``
    (read through :mod:`actor.prompt_files`). Raises
    :class:`~actor.prompt_files.PromptFileError` for a bad file (unknown keys or placeholders,
    ``{reply}``, ``{failed}`` or ``{language}`` missing), ``FileNotFoundError``."""
    name = "judgement/wording.yaml"
    prompt = prompt_files.read(path, name) if path else prompt_files.load(name)
    return prompt, prompt.sha256


def language_of(text: str) -> str | None:
    """``nl``, ``en`` or ``None`` (too short or undecided), by counting common function words."""
    words = re.findall(r"[a-zà-ÿ']+", text.lower())
    nl = sum(w in _STOP["nl"] for w in words)
    en = sum(w in _STOP["en"] for w in words)
    if nl + en < 2 or nl == en:
        return None
    return "nl" if nl > en else "en"


_SPELLING: dict[str, object] = {}  # read-only word lists, loaded once per process


def unknown_words(text: str, lang: str, allowed: str = "") -> set[str]:
    """Words of ``text`` that are neither in ``lang``'s word list (pyspellchecker's frequency
    lists, shipped in its wheel) nor in ``allowed`` (the reply, the customer's line, the
    scenario's names). Catches the small model's invented or English words in a Dutch sentence
    ("expolite", "moester", "customer")."""
    from spellchecker import SpellChecker

    if lang not in _SPELLING:
        _SPELLING[lang] = SpellChecker(language=lang)
    words = set(re.findall(r"[a-zà-ÿ]+", text.lower())) - set(re.findall(r"[a-zà-ÿ]+", allowed.lower()))
    return set(_SPELLING[lang].unknown(w for w in words if len(w) > 2))


def first_sentence(text: str) -> str:
    """``text`` up to and including its first sentence end (the whole text when it has none)."""
    m = re.search(r"[.!?](\s|$)", text)
    return text[: m.end()].strip() if m else text.strip()


def spoken(text: str) -> str:
    """A better phrasing as the words to say: a lead-in such as "Je had kunnen zeggen:" or
    "You could say:" and surrounding quotes removed."""
    head, sep, rest = text.partition(":")
    if sep and re.search(r"\b(zeggen|gezegd|say|said|bijvoorbeeld|example)\b", head, re.I) and len(head.split()) <= 12:
        text = rest
    return text.strip().strip("\"'“”‘’").strip()


def _copies(text: str, source: str, share: float) -> bool:
    """True when more than ``share`` of the words of ``text`` occur in ``source`` (or ``text``
    has no words): a "better phrasing" that repeats the reply or the customer's line."""
    words = re.findall(r"\w+", text.lower())
    own = set(re.findall(r"\w+", source.lower()))
    return not words or sum(w in own for w in words) / len(words) > share


def contradicts(reason: str, verdict: str, lang: str) -> bool:
    """True when a reason for a ``fail`` praises (says the criterion was met)."""
    return verdict == "fail" and bool(re.search(_PRAISE.get(lang, _PRAISE["en"]), reason, re.I))


class Why(BaseModel):  # why one criterion failed (schema only: no docstring, it would reach the model)
    model_config = ConfigDict(extra="forbid")
    why: str = Field(max_length=WHY_MAX)


def _schema(criteria: list[str]) -> dict:
    """JSON schema of the answer: a :class:`Why` per failed criterion, then the better phrasing."""
    fields = {cid: (Why, ...) for cid in criteria}
    return create_model("Feedback", __config__=ConfigDict(extra="forbid"), **fields,
                        better=(str, Field(max_length=BETTER_MAX))).model_json_schema()


def failed_criteria(assessment: TurnAssessment) -> list[str]:
    """Ids of the criteria that failed and are not in the uncertain band."""
    return [cid for cid, r in assessment.criteria.items() if r.verdict == "fail" and not r.unsure]


def rubric_wording(req: GradeRequest, assessment: TurnAssessment, rubric: Rubric) -> TurnAssessment:
    """The words from the rubric itself: a failed criterion's reason is its pass rule in the
    session's language (what was expected), keeping a rule's matched words as the evidence; the tip is the
    rubric's passing example of the first failed criterion."""
    lang = req.lang
    criteria = dict(assessment.criteria)
    for cid in failed_criteria(assessment):
        r = criteria[cid]  # a rule's finding keeps its matched words as the evidence
        c = rubric.criterion(cid)
        criteria[cid] = r.model_copy(update={"reason": ("Verwacht: " if lang == "nl" else "Expected: ") + c.passes_when(lang)})
    failed = failed_criteria(assessment)
    tip = ""
    if failed:
        example = rubric.criterion(failed[0]).examples.good(lang)
        tip = (f"Bijvoorbeeld: “{example}”" if lang == "nl" else f"For example: “{example}”")
    return assessment.model_copy(update={"criteria": criteria, "tip": tip, "wording": "rubric"})


class Writer:
    """Writes the feedback words with a chat model (any LangChain chat model; JSON-constrained
    on the embedded and OpenAI-compatible backends). ``before_call`` / ``yield_to``: as for
    background work in the app (wait while the customer speaks; stop between tokens when a
    customer line starts). ``retries``: extra attempts after a rejected or failed answer."""

    def __init__(self, model, prompt_path: Path | None = None, retries: int = 1, before_call=None, yield_to=None) -> None:
        self.model = model
        self.prompt, self.sha256 = load_wording_prompt(prompt_path)
        self.retries = retries
        self.before_call = before_call or (lambda: None)
        self.yield_to = yield_to

    def messages(self, req: GradeRequest, failed: list[str], rubric: Rubric, reply: str, quotes: dict[str, str] | None = None) -> list:
        """The chat messages for one wording call (``quotes``: criterion id → the trainee's words
        it concerns)."""
        lang = req.lang
        quotes = quotes or {}
        listing = "\n".join(f"- {cid}: {rubric.criterion(cid).name(lang)} — {rubric.criterion(cid).passes_when(lang)}"
                            + (f' Words: "{quotes[cid]}"' if quotes.get(cid) else "")
                            for cid in failed) or "- (none: the reply met every criterion; only write \"better\")"
        fields = {"language": LANGUAGE_NAMES.get(lang, "English"), "scenario": req.scenario or "a customer service conversation",
                  "customer": req.customer_line.replace("</customer>", ""), "reply": reply.replace("</reply>", ""),
                  "failed": listing}
        return [SystemMessage(self.prompt.system.format(**fields)), HumanMessage(self.prompt.user.format(**fields))]

    def _invoke(self, chain, messages: list):
        """One model call after ``before_call``; a preempted call waits and is asked again."""
        return invoke_when_idle(chain, messages, self.before_call)

    def word(self, req: GradeRequest, assessment: TurnAssessment, rubric: Rubric, quotes: dict[str, str] | None = None,
             judge_tip=None) -> TurnAssessment:
        """``assessment`` with model-written reasons and tip where they pass the checks, the
        rubric's text elsewhere (``wording``: ``model`` when every word came from the model).
        ``quotes``: criterion id → the reply's words it concerns (stored as the evidence);
        ``judge_tip``: text → :class:`TurnAssessment` of that text as a reply to the same line
        (``None``: the tip is not judged). Never raises for model trouble."""
        from actor.judgement.features import strip_injection

        reply, _ = strip_injection(req.reply)
        quotes = quotes or {}
        failed = failed_criteria(assessment)
        base = rubric_wording(req, assessment, rubric)
        chain = json_mode(self.model, _schema(failed), "feedback")
        chain = (preemptible(chain, self.yield_to) if self.yield_to else chain) | JsonOutputParser()
        allowed = " ".join([reply, req.customer_line, req.scenario, req.allowed, *quotes.values()])
        accepted: dict[str, str] = {}
        tip = None

        def attempt(messages: list) -> None:
            """One call (after the scheduling hooks); keeps what passes the checks and raises
            RejectedAnswer while a "why" or the tip is still missing. Errors of the checks
            themselves (``judge_tip``) are not model trouble: they propagate, not retried."""
            nonlocal tip
            try:
                out = self._invoke(chain, messages)
            except Exception as exc:  # model errors, parse errors
                raise RejectedAnswer(f"{type(exc).__name__}: {exc}") from exc
            if not isinstance(out, dict):
                raise RejectedAnswer("the answer is not a JSON object")
            for cid in failed:
                item = out.get(cid)
                why = first_sentence(str(item.get("why", ""))) if isinstance(item, dict) else ""
                rule = rubric.criterion(cid).name(req.lang) + " " + rubric.criterion(cid).passes_when(req.lang)
                if cid not in accepted and why and len(why.split()) <= 30 and language_of(why) == req.lang \
                        and not contradicts(why, "fail", req.lang) and not unknown_words(why, req.lang, allowed) \
                        and not _copies(why, rule, 0.6):  # the pass rule read back reads as a pass
                    accepted[cid] = why
            better = spoken(str(out.get("better", "")))
            if tip is None and self._good_tip(better, reply, req.lang, assessment, judge_tip) \
                    and not unknown_words(better, req.lang, allowed) and not _copies(better, req.customer_line, 0.5):
                tip = better
            if len(accepted) < len(failed) or tip is None:
                raise RejectedAnswer("a why or the better phrasing was rejected")

        try:  # what was accepted in any attempt is kept; later attempts fill in what is missing
            retrying(RunnableLambda(attempt), self.retries, on=(RejectedAnswer,)).invoke(
                self.messages(req, failed, rubric, reply, quotes))
        except RejectedAnswer:
            pass  # still missing after the last attempt: the rubric's text stands in
        criteria = dict(base.criteria)
        for cid in failed:
            r = criteria[cid]
            update = {"evidence": r.evidence or quotes.get(cid, "")}
            if cid in accepted:
                update["reason"] = accepted[cid]
            criteria[cid] = r.model_copy(update=update)
        complete = len(accepted) == len(failed) and tip is not None
        return base.model_copy(update={"criteria": criteria, "tip": tip if tip is not None else base.tip,
                                       "wording": "model" if complete else "rubric"})

    @staticmethod
    def _good_tip(better: str, reply: str, lang: str, assessment: TurnAssessment, judge_tip) -> bool:
        """A better phrasing is kept when it is in ``lang``, is itself something to say to the
        customer (not a comment about "the customer" or "the reply", :data:`_ABOUT_THE_REPLY`), does not copy the reply (at most
        70 % of its words from the reply; the caller also refuses the customer's own words) and, judged as a reply itself, keeps calm, promises
        nothing outside policy and scores at least as well as the reply."""
        if not better or language_of(better) != lang or re.search(_ABOUT_THE_REPLY, better, re.I):
            return False
        if _copies(better, reply, 0.7):
            return False
        if judge_tip is None:
            return True
        judged = judge_tip(better)
        if any(judged.criteria[c].verdict == "fail" for c in ("stays_calm", "no_false_promises") if c in judged.criteria):
            return False
        return (judged.score or 0.0) >= (assessment.score or 0.0)
