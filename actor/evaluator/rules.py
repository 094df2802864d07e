"""Cheap deterministic checks that sanity-check the model's verdicts.

How they combine with the model (documented in the README too):

- **Hard failure signs override a model "pass"**: a "calm down" phrase, an insult or a taunt
  fails ``stays_calm``; an explicit concession or guarantee ("I'll waive it", "ik beloof",
  "binnen vijf minuten") fails ``no_false_promises`` unless the promised number appears in the
  scenario's policy facts. The matched words become the evidence and ``source`` is ``rules``.
- Rules never turn a model "fail" into a "pass": absence of a phrase proves nothing.
- **Injection**: sentences in the reply that address the grader ("ignore the rubric", "give me
  full marks", "negeer de instructies") are replaced by a marker before the model sees the reply,
  so they cannot change a verdict; the assessment is flagged ``injection_suspected``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CALM_DOWN = [
    r"\bcalm down\b", r"\brelax\b", r"\bchill\b", r"\bget a grip\b",
    r"\brustig (?:aan|maar|nou)\b", r"\bkalm(?:eer| aan| blijven)\b", r"\bdoet? (?:u )?(?:even )?normaal\b",
    r"\b(?:doe|doet u|blijf|blijft u) (?:nou |eerst )?(?:even )?rustig\b", r"\bsettle down\b", r"\btake it easy\b",
]
_HOSTILE = [
    r"\bidiot\b", r"\bstupid\b", r"\bshut up\b", r"\bbring it on\b", r"\bright back at you\b",
    r"\bnot my (?:fault|problem)\b", r"\bnext customer\b", r"^\s*wow\b", r"\bhaha\b", r"\bmanners\b",
    r"\bidioot\b", r"\bdom(?:me)?\b", r"\bhou je mond\b", r"\bkom maar op\b", r"\bvolgende\s*!",
    r"\bniet mijn (?:schuld|probleem)\b", r"\bzelf (?:weten|schuld)\b",
    r"^\s*tja\b", r"\bnext,? please\b", r"\bsee how far that gets you\b", r"\bkijk maar hoe ver u (?:daarmee )?komt\b", r"\bmensen zoals u\b", r"\bpeople like you\b", r"\bzo praat u niet tegen mij\b",
    r"\bdon't (?:you )?talk to me like that\b", r"\bergens anders (?:klagen|heen)\b", r"\bsomewhere else\b",
]
_CONCESSION = [
    r"\bi(?:'ll| will) (?:waive|refund|cancel|drop|make an exception)\b", r"\bjust this once\b",
    r"\bi promise\b", r"\bi guarantee\b", r"\bdon't tell anyone\b",
    r"\bik beloof\b", r"\bik garandeer\b", r"\b(?:laten )?vervallen\b", r"\bkwijtschel",
    r"\bvan de rekening (?:af|halen|gehaald|schrappen|geschrapt)\b",  # not "welk deel van de rekening"
    r"\b(?:haal|haalt|halen|schrap|schrapt)\b[^.!?]{0,30}\bvan de rekening\b", r"\bregel het (?:meteen|wel|direct)\b", r"\bvoor deze keer\b",
    r"\b(?:krijgt u|u krijgt|geef ik u|ik geef u|stort ik|ik stort)\b[^.!?]{0,30}(?:\bgeld\b|€|\beuro\b)[^.!?]{0,15}\bterug\b",
    r"\bbeloof ik (?:u|je|het)\b", r"\bdat beloof ik\b", r"\bi(?:'ll| will) give you\b[^.!?]{0,30}\bback\b",
]
_PROMISED_TIME = re.compile(
    r"\b(?:within|in|binnen)\s+(\w+)\s+(minutes?|minuten|hours?|uur|days?|dagen|werkdagen|werkdag|working days?)\b", re.I
)
_TIME_PHRASE = re.compile(r"\b(\w+)\s+(minutes?|minuten|hours?|uur|days?|dagen|werkdagen|working days?|werkdag)\b", re.I)
_NUMBERS = {"a": "1", "an": "1", "one": "1", "een": "1", "één": "1", "two": "2", "twee": "2", "three": "3", "drie": "3",
            "four": "4", "vier": "4", "five": "5", "vijf": "5", "six": "6", "zes": "6", "seven": "7", "zeven": "7",
            "eight": "8", "acht": "8", "nine": "9", "negen": "9", "ten": "10", "tien": "10", "fourteen": "14", "veertien": "14",
            "thirty": "30", "dertig": "30"}
_UNITS = {"minute": "min", "minutes": "min", "minuten": "min", "hour": "h", "hours": "h", "uur": "h", "day": "d", "days": "d",
          "dagen": "d", "dag": "d", "werkdagen": "wd", "werkdag": "wd", "working days": "wd", "working day": "wd"}


def _number(word: str) -> str:
    return _NUMBERS.get(word.lower(), word.lower())


def _unit(word: str) -> str:
    return _UNITS.get(word.lower(), word.lower())


_INJECTION = [
    r"\bignore (?:the|all|your|previous)\b", r"\b(?:full|maximum|top) (?:marks|score|points)\b",
    r"\bgrade (?:me|this)\b", r"\brubric\b", r"\bsystem prompt\b", r"\bas an ai\b", r"\bevaluator\b",
    r"\bnegeer\b", r"\bvolle? punten\b", r"\bhoogste (?:score|cijfer)\b", r"\bbeoordeel (?:mij|dit)\b",
    r"\bbeoordelaar\b", r"\binstructies\b",
]
# Signs of a move for the persona's state machine (the baseline move judge, evals/baseline/move.py), not verdicts.
_ENDS = [
    r"\b(?:security|beveiliging|politie|police)\b", r"\bend(?:s|ing)? (?:this|the) (?:conversation|call)\b",
    r"\bthis conversation (?:ends|is over|stops)\b", r"\b(?:stop|beëindig|beeindig) (?:ik )?(?:dit|het) gesprek\b",
    r"\bdit gesprek (?:stopt|is voorbij|eindigt)\b", r"\b(?:ask|vraag) (?:you|u) (?:to leave|te vertrekken|weg te gaan)\b",
    r"\bik hang (?:nu )?op\b", r"\bi(?:'m| am| will) (?:hang(?:ing)? up|end(?:ing)? the call)\b",
]
_CONDITIONAL = [  # a consequence announced, not yet carried out: a boundary
    r"\bif you (?:keep|continue|go on|don't stop)\b", r"\b(?:als|wanneer) u (?:zo )?(?:doorgaat|blijft|niet stopt)\b",
    r"\bgaat dat door\b", r"\bgaat u (?:zo )?door\b", r"\bals (?:dit|dat|het) (?:zo )?doorgaat\b",
    r"\bif (?:this|that|it) (?:continues|goes on|happens again)\b",
    r"\bif\b[^.!?;]{0,40}\b(?:continues?|goes on|go on|keeps? (?:on|up))\b",
    r"\b(?:als|wanneer)\b[^.!?;]{0,40}\b(?:doorgaat|doorgaan|aanhoudt|aanhouden)\b",
]
_BOUNDARY = [
    r"\b(?:i|we) (?:do not|don't|won't|will not) accept\b", r"\b(?:dat|die toon|dit) accepteer ik niet\b",
    r"\b(?:ik|wij) accepteren? (?:dat|dit|die toon) niet\b", r"\bniet (?:op|met) (?:deze|die) (?:toon|manier)\b",
    r"\b(?:not|don't) (?:in|with) (?:this|that) tone\b", r"\blaat me niet (?:toe)?(?:schreeuwen|uitschelden)\b",
    r"\bcan(?:'t|not) make an exception\b", r"\bkan (?:ik )?geen uitzondering\b", r"\bgeen uitzondering\b",
    r"\bdat kan ik niet\b", r"\bthat is not something i can\b", r"\bnot acceptable\b", r"\bniet acceptabel\b",
]
INJECTION_MARKER = "[instruction to the grader removed]"


@dataclass(frozen=True)
class RuleFinding:
    """A deterministic failure sign: the criterion it fails, the matched words, why."""

    criterion: str
    evidence: str
    reason: str


_NEGATION = re.compile(r"\b(?:not?|never|can(?:'t|not)|won't|niet|geen|nooit|kan ik u niet|helaas)\b", re.I)


def _search(patterns: list[str], text: str, negatable: bool = False) -> str | None:
    """The first match of ``patterns`` in ``text``; with ``negatable``, a match in a clause that
    also says no ("geld terug kan ik u niet geven", "I can't waive it") does not count."""
    for pattern in patterns:
        for m in re.finditer(pattern, text, re.I | re.M):
            if negatable:
                start = max(text.rfind(ch, 0, m.start()) for ch in ".!?;:,") + 1
                ends = [i for i in (text.find(ch, m.end()) for ch in ".!?;:,") if i != -1]
                if _NEGATION.search(text[start:min(ends) if ends else len(text)]):
                    continue
            return m.group(0).strip()
    return None


def findings(reply: str, policy_text: str = "") -> list[RuleFinding]:
    """Hard failure signs in ``reply``; ``policy_text`` lists what the policy allows."""
    out = []
    hit = _search(_CALM_DOWN, reply)
    if hit:
        out.append(RuleFinding("stays_calm", hit, "tells the customer to calm down"))
    else:
        hit = _search(_HOSTILE, reply)
        if hit:
            out.append(RuleFinding("stays_calm", hit, "answers with a taunt, blame or counter-attack"))
    hit = _search(_CONCESSION, reply, negatable=True)
    if hit:
        out.append(RuleFinding("no_false_promises", hit, "concedes or guarantees something under pressure"))
    else:
        allowed = {_number(m.group(1)) + " " + _unit(m.group(2)) for m in _PROMISED_TIME.finditer(policy_text)}
        allowed |= {_number(m.group(1)) + " " + _unit(m.group(2)) for m in _TIME_PHRASE.finditer(policy_text)}
        for m in _PROMISED_TIME.finditer(reply):
            if _number(m.group(1)) + " " + _unit(m.group(2)) not in allowed:
                out.append(RuleFinding("no_false_promises", m.group(0), "promises a time the policy does not give"))
                break
    return out


def move_sign(reply: str) -> tuple[str, str] | None:
    """``(move, matched words)`` when the wording itself shows the move ``end_conversation`` or
    ``boundary`` (checked after :func:`findings`, which decide ``provoke`` and ``cave``)."""
    for move, patterns in (("boundary", _CONDITIONAL), ("end_conversation", _ENDS), ("boundary", _BOUNDARY)):
        hit = _search(patterns, reply)
        if hit:
            return move, hit
    return None


def mask_injection(reply: str) -> tuple[str, bool]:
    """``(reply with grader-directed sentences replaced by a marker, whether any were found)``."""
    sentences = re.split(r"(?<=[.!?])\s+", reply)
    kept, found = [], False
    for sentence in sentences:
        if _search(_INJECTION, sentence):
            found = True
            if not kept or kept[-1] != INJECTION_MARKER:
                kept.append(INJECTION_MARKER)
        else:
            kept.append(sentence)
    return " ".join(kept), found


def normalise(text: str) -> str:
    """Lowercase, straight quotes, single spaces: for comparing quotes with the reply."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", text).strip().strip("\"'").strip().lower()


def quote_in(evidence: str, reply: str) -> bool:
    """True when ``evidence`` (ellipses allowed between parts) occurs in ``reply``."""
    ev = normalise(evidence)
    if not ev:
        return False
    target = normalise(reply)
    return all(part.strip() in target for part in re.split(r"\.\.\.|…", ev) if part.strip())
