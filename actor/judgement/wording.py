"""The words of the feedback: per failed criterion one sentence about the trainee's own words,
and one better phrasing of this reply, in the session's language.

The verdicts are fixed before anything is worded (:meth:`actor.judgement.judge.Judge.verdicts`),
and so is every reason: per failed criterion the judgement picks the sentence of the reply that
the criterion's head scores lowest (:meth:`~actor.judgement.judge.Judge.weakest_sentence`; a
rule's own match when a rule decided), and the reason is the rubric's ``missed`` text about
those words (:func:`reason`: "In “Ik moet even kijken.” benoem of erken je het gevoel van de
klant niet."). A reason can therefore never contradict its verdict, quote words that are not in
the reply, or be in the wrong language.

The chat model is asked one narrow question (``prompts/judgement/wording.yaml``, one
JSON-constrained call of a few dozen tokens): what the trainee could have said instead. The
better phrasing must be in the session's language, be something to say to the customer (not a
comment about the reply), contain no words unknown in that language (:func:`unknown_words`),
copy neither the reply nor the customer's line, and, judged like a reply itself (``judge_tip``),
keep calm, promise nothing outside policy, pass at least one criterion the reply failed, fail
none the reply passed and score at least as well as the reply. A rejected
phrasing can be asked again with sampling (``retries``; a different answer, not the same greedy
one); when every attempt is rejected the rubric's passing example stands in (:func:`rubric_wording`).
"""

from __future__ import annotations

import re
from pathlib import Path

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.output_parsers import JsonOutputParser
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel, ConfigDict, Field

from actor import prompt_files
from actor.evaluator.assessment import TurnAssessment
from actor.evaluator.request import GradeRequest, RejectedAnswer, retrying
from actor.evaluator.rubric import Rubric
from actor.llm import invoke_when_idle, json_mode, preemptible
from actor.prompt_files import WordingPrompt  # noqa: F401  (re-exported)

LANGUAGE_NAMES = {"nl": "Dutch (Nederlands)", "en": "English"}
_ABOUT_THE_REPLY = (  # a "better phrasing" that talks about the reply instead of being one
    r"\b(?:de klant|het antwoord|zou (?:je |ik )?(?:kunnen |hebben )*(?:zeggen|gezegd)|the customer|the reply|the answer"
    r"|(?:could|would|should) (?:have )?(?:say|said))\b")
BETTER_MAX = 240
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


def spoken(text: str) -> str:
    """A better phrasing as the words to say: a lead-in such as "Je had kunnen zeggen:" or
    "You could say:", tags such as ``<reply>`` and surrounding quotes removed."""
    head, sep, rest = text.partition(":")
    if sep and re.search(r"\b(zeggen|gezegd|say|said|bijvoorbeeld|example)\b", head, re.I) and len(head.split()) <= 12:
        text = rest
    text = re.sub(r"</?[A-Za-z][\w-]*:?\s*/?>?", "", text)  # markup the model copied from the prompt (<reply>)
    return text.strip().strip("\"'“”‘’:").strip()


def _copies(text: str, source: str, share: float) -> bool:
    """True when more than ``share`` of the words of ``text`` occur in ``source`` (or ``text``
    has no words): a "better phrasing" that repeats the reply or the customer's line."""
    words = re.findall(r"\w+", text.lower())
    own = set(re.findall(r"\w+", source.lower()))
    return not words or sum(w in own for w in words) / len(words) > share


def contradicts(reason: str, verdict: str, lang: str) -> bool:
    """True when a reason for a ``fail`` praises (says the criterion was met)."""
    return verdict == "fail" and bool(re.search(_PRAISE.get(lang, _PRAISE["en"]), reason, re.I))


QUOTE_WORDS = 14
"""Words of the trainee's reply quoted in a reason at most (longer quotes end in "…")."""
RETRY_SAMPLING = {"temperature": 0.8}
"""Sampling for a second attempt at the better phrasing (a greedy retry would repeat the first)."""


def reason(rubric: Rubric, cid: str, quote: str, lang: str) -> str:
    """The reason for failed criterion ``cid``: the rubric's ``missed`` text about ``quote`` (the
    reply's words it concerns, cut to :data:`QUOTE_WORDS` words), e.g. "In “Wat wilt u?” benoem
    of erken je het gevoel van de klant niet."; without a quote the pass rule ("Verwacht: …")."""
    c = rubric.criterion(cid)
    words = quote.split()
    if not words:
        return ("Verwacht: " if lang == "nl" else "Expected: ") + c.passes_when(lang)
    shown = " ".join(words[:QUOTE_WORDS]) + (" …" if len(words) > QUOTE_WORDS else "")
    return f"In “{shown}” {c.missed(lang)}."


def failed_criteria(assessment: TurnAssessment) -> list[str]:
    """Ids of the criteria that failed and are not in the uncertain band."""
    return [cid for cid, r in assessment.criteria.items() if r.verdict == "fail" and not r.unsure]


def rubric_wording(req: GradeRequest, assessment: TurnAssessment, rubric: Rubric,
                   quotes: dict[str, str] | None = None) -> TurnAssessment:
    """The words from the rubric alone: per failed criterion its :func:`reason` about the
    criterion's evidence (a rule's matched words) or ``quotes[cid]`` (the evidence is set to the
    quote when it had none); the tip is the rubric's passing example of the first failed
    criterion (``wording``: ``rubric``)."""
    lang, quotes = req.lang, quotes or {}
    criteria = dict(assessment.criteria)
    failed = failed_criteria(assessment)
    for cid in failed:
        r = criteria[cid]
        evidence = r.evidence or quotes.get(cid, "")
        criteria[cid] = r.model_copy(update={"reason": reason(rubric, cid, evidence, lang), "evidence": evidence})
    tip = example_tip(rubric.criterion(failed[0]).examples.good(lang), lang) if failed else ""
    return assessment.model_copy(update={"criteria": criteria, "tip": tip, "wording": "rubric"})


def example_tip(text: str, lang: str) -> str:
    """A worked example as a tip: "Bijvoorbeeld: “…”" / "For example: “…”"."""
    return f"Bijvoorbeeld: “{text}”" if lang == "nl" else f"For example: “{text}”"


def _session_fields(lang: str, scenario: str, policy) -> dict[str, str]:
    """The wording prompt's placeholders that stay the same for a session."""
    return {"language": LANGUAGE_NAMES.get(lang, "English"), "scenario": scenario or "a customer service conversation",
            "policy": " ".join(policy) or "-"}


class Better(BaseModel):  # the model's answer (schema only: no docstring, it would reach the model)
    model_config = ConfigDict(extra="forbid")
    better: str = Field(max_length=BETTER_MAX)


class Writer:
    """Writes the better phrasing with a chat model (any LangChain chat model; JSON-constrained
    on the embedded and OpenAI-compatible backends); the reasons come from the rubric
    (:func:`rubric_wording`). ``before_call`` / ``yield_to``: as for background work in the app
    (wait while the customer speaks; stop between tokens when a customer line starts).
    ``retries``: extra attempts (sampled, :data:`RETRY_SAMPLING`) after a rejected or failed
    answer; default none: on the shipped 1.5B model a second attempt was rarely kept and doubled
    the background time per reply (``python -m evals.judgement --part wording``)."""

    def __init__(self, model, prompt_path: Path | None = None, retries: int = 0, before_call=None, yield_to=None) -> None:
        self.model = model
        self.prompt, self.sha256 = load_wording_prompt(prompt_path)
        self.retries = retries
        self.before_call = before_call or (lambda: None)
        self.yield_to = yield_to

    def messages(self, req: GradeRequest, failed: list[str], rubric: Rubric, reply: str) -> list:
        """The chat messages for one call: the session's fixed context first (situation and
        policy: cached between calls on the embedded backend), then the customer's line, the
        reply and what it missed (each failed criterion's name and pass rule)."""
        lang = req.lang
        listing = "\n".join(f"- {rubric.criterion(cid).name(lang)}: {rubric.criterion(cid).passes_when(lang)}"
                            for cid in failed) or "- (none: the reply met every criterion)"
        fields = {**_session_fields(lang, req.scenario, req.policy),
                  "customer": req.customer_line.replace("</customer>", ""), "reply": reply.replace("</reply>", ""),
                  "failed": listing}
        return [SystemMessage(self.prompt.system.format(**fields)), HumanMessage(self.prompt.user.format(**fields))]

    def prefill(self, lang: str, scenario: str, policy: list[str]) -> bool:
        """Evaluate the part of the prompt that stays the same for a session (the system text and
        the template up to its first per-reply placeholder, with ``scenario`` and ``policy``
        filled in) so the first reply's call finds it in the KV cache. Only for models that
        keep a prompt cache in this process (``caches_prefix``, the embedded model); runs
        after ``before_call`` and gives way like the wording itself. Returns whether it ran;
        failures are ignored (it is an optimisation)."""
        if not getattr(self.model, "caches_prefix", False):
            return False
        user = self.prompt.user
        cut = min((user.find(f"{{{k}}}") for k in ("customer", "reply", "failed") if f"{{{k}}}" in user), default=len(user))
        fields = _session_fields(lang, scenario, policy)
        try:
            head = user[:cut].format(**fields).rstrip()
            chain = preemptible(self.model, self.yield_to) if self.yield_to else self.model
            invoke_when_idle(chain.bind(max_tokens=1), [SystemMessage(self.prompt.system.format(**fields)), HumanMessage(head)],
                             self.before_call)
        except Exception:
            return False
        return True

    def word(self, req: GradeRequest, assessment: TurnAssessment, rubric: Rubric, quotes: dict[str, str] | None = None,
             judge_tip=None) -> TurnAssessment:
        """``assessment`` with the rubric's reasons (:func:`rubric_wording`) and the model's
        better phrasing when one passes the checks, else the rubric's example (``wording``:
        ``model`` when the tip came from the model; a reply that failed nothing gets no tip and
        no model call). ``quotes``: criterion id → the reply's
        words it concerns; ``judge_tip``: text → :class:`TurnAssessment` of that text as a reply
        to the same line (``None``: the tip is not judged). Never raises for model trouble;
        errors of ``judge_tip`` itself propagate."""
        from actor.judgement.features import strip_injection

        reply, _ = strip_injection(req.reply)
        quotes = quotes or {}
        failed = failed_criteria(assessment)
        base = rubric_wording(req, assessment, rubric, quotes)
        if not failed:  # nothing to do better: no model time spent
            return base
        allowed = " ".join([reply, req.customer_line, req.scenario, req.allowed, *quotes.values()])
        messages = self.messages(req, failed, rubric, reply)
        tips: list[str] = []
        attempts = [0]

        def attempt(_: object) -> None:
            """One attempt (the first with the model's own settings, later ones sampled with a
            new seed); raises RejectedAnswer when the phrasing is rejected or the call failed."""
            n = attempts[0]
            attempts[0] += 1
            chain = json_mode(self.model, Better.model_json_schema(), "better")
            chain = chain.bind(**RETRY_SAMPLING, seed=n) if n else chain  # after json_mode: the grammar stays
            chain = (preemptible(chain, self.yield_to) if self.yield_to else chain) | JsonOutputParser()
            try:
                out = invoke_when_idle(chain, messages, self.before_call)
            except Exception as exc:  # model errors, parse errors
                raise RejectedAnswer(f"{type(exc).__name__}: {exc}") from exc
            better = spoken(str(out.get("better", ""))) if isinstance(out, dict) else ""
            if not (self._good_tip(better, reply, req.lang, assessment, judge_tip)
                    and not unknown_words(better, req.lang, allowed) and not _copies(better, req.customer_line, 0.5)):
                raise RejectedAnswer(f"better phrasing rejected: {better[:80]!r}")
            tips.append(better)

        try:
            retrying(RunnableLambda(attempt), self.retries, on=(RejectedAnswer,)).invoke(None)
        except RejectedAnswer:
            pass  # every attempt rejected: the rubric's example stands in
        if not tips:
            return base
        return base.model_copy(update={"tip": tips[0], "wording": "model"})

    @staticmethod
    def _good_tip(better: str, reply: str, lang: str, assessment: TurnAssessment, judge_tip) -> bool:
        """A better phrasing is kept when it is in ``lang``, is itself something to say to the
        customer (not a comment about "the customer" or "the reply", :data:`_ABOUT_THE_REPLY`),
        does not copy the reply (at most 70 % of its words from the reply; the caller also
        refuses the customer's own words) and, judged as a reply itself, keeps calm, promises
        nothing outside policy, passes at least one criterion the reply failed, fails none the
        reply passed, and scores at least as well as the reply."""
        if not better or language_of(better) != lang or re.search(_ABOUT_THE_REPLY, better, re.I):
            return False
        if _copies(better, reply, 0.7):
            return False
        if judge_tip is None:
            return True
        judged = judge_tip(better)
        if any(judged.criteria[c].verdict == "fail" for c in ("stays_calm", "no_false_promises") if c in judged.criteria):
            return False
        verdict = {c: r.verdict for c, r in judged.criteria.items()}
        failed = failed_criteria(assessment)
        if failed and not any(verdict.get(c) == "pass" for c in failed):
            return False  # it does nothing the reply missed
        if any(r.verdict == "pass" and verdict.get(c) == "fail" for c, r in assessment.criteria.items()):
            return False  # it loses something the reply did well
        return (judged.score or 0.0) >= (assessment.score or 0.0)
