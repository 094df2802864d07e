"""Reading the trainee's reply for the customer's concern: which hidden facts it uncovers, whether
it puts a concrete next step from the scenario's policy on the table, and whether it tries to
take the customer out of the scene (swap roles, "the exercise is over").

:class:`ReplyReader` is built per scenario and language from the scenario's own files (hidden
facts and their ``ask_about``; the "may offer" list of the policy document), so a trainer's new
scenario is read the same way. Matching is lexical on :func:`~actor.persona.scene.normalise`\\ d
words: words every text of the scenario shares (its title, opening line, what the customer
wants) carry no information about a particular fact or offer and are left out. With an
``embeddings`` object (``embed_query(text) -> list[float]``), a reply sentence whose cosine
similarity to a fact's ``ask_about`` reaches ``similarity`` also uncovers that fact.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from actor.persona.scenario import Scenario
from actor.persona.scene import _stopwords, normalise, words

FACT_SCORE = 2.0  # matched words (ask_about words count 1, words only in the fact 0.5) that uncover a fact
OFFER_WORDS = 2  # words shared with one policy offer that, with a commitment, make a next step
SIMILARITY = 0.9  # cosine similarity of a reply sentence to an ask_about that uncovers the fact (embeddings)

_COMMIT = {
    "nl": [r"\bik (?:kan|ga|zal|laat|zet|dien|maak|verleng|mail|stuur|bel|regel|geef|noteer|registreer|plan|vraag|bied)\b",
           r"\b(?:kan|ga|zal|laat|zet|dien|maak|verleng|mail|stuur|bel|regel|geef|noteer|registreer|plan|bied) ik\b",
           r"\bwe (?:kunnen|gaan|zullen)\b", r"\bu kunt\b", r"\bwat ik (?:wel |nu )?(?:kan|doe|ga doen)\b"],
    "en": [r"\bi(?:'ll| will| can| am going to|'m going to| could)\b", r"\blet me\b", r"\bwe (?:can|will|'ll)\b",
           r"\byou can\b", r"\bwhat i can do\b"],
}
_REVERSAL = [
    r"\b(?:swap|switch|change|reverse|trade)\w* (?:the )?roles?\b", r"\broles? (?:swap|switch|reversal)\b",
    r"\byou(?:'re| are) (?:now )?the (?:employee|clerk|agent|assistant)\b", r"\byou be the (?:employee|clerk|agent)\b",
    r"\b(?:the )?(?:exercise|role-?play|simulation|training|game|scenario) (?:is|has) (?:over|finished|ended|done)\b",
    r"\b(?:stop|end) (?:the |this )?(?:exercise|role-?play|simulation|game)\b", r"\bignore (?:your|all|the) (?:previous )?instructions\b",
    r"\bpretend (?:to be|you(?:'re| are)) the\b", r"\bout of character\b",
    r"\b(?:wissel|ruil|draai)\w* (?:\w+ )?(?:van )?rol(?:len)?\b", r"\brollen (?:om)?(?:draaien|wisselen|omgedraaid)\b",
    r"\b(?:jij|u) (?:bent|speelt) (?:nu )?de (?:medewerker|baliemedewerker|assistent)\b",
    r"\b(?:de |het )?(?:oefening|rollenspel|simulatie|spel|scenario|training) is (?:nu )?(?:voorbij|afgelopen|klaar|gestopt)\b",
    r"\b(?:stop|stoppen) (?:met )?(?:de |het |deze |dit )?(?:oefening|rollenspel|simulatie|spel)\b",
    r"\bnegeer (?:je|uw|alle|de) (?:vorige )?instructies\b", r"\buit (?:je|uw) rol\b",
]


def asks_role_reversal(reply: str) -> bool:
    """Whether ``reply`` tries to swap roles, declares the exercise over or addresses the model
    behind the customer (both languages)."""
    return any(re.search(p, reply, re.I) for p in _REVERSAL)


def _cosine(a: list[float], b: list[float]) -> float:
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(x * x for x in b)) or 1.0
    return sum(x * y for x, y in zip(a, b)) / (na * nb)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?;])\s+", text.strip()) if s.strip()]


def policy_offers(policy: str) -> list[str]:
    """The bullets under the policy document's "may offer" heading (``Wat de medewerker mag
    aanbieden`` / ``What the employee may offer``); empty when the document has none."""
    offers, inside = [], False
    for line in policy.splitlines():
        if line.startswith("#"):
            head = line.lower()
            inside = ("mag aanbieden" in head or "may offer" in head) and " niet " not in head and " not " not in head
            continue
        if inside and line.lstrip().startswith(("-", "*")):
            offers.append(line.lstrip()[1:].strip())
    return offers


@dataclass
class ReplyReader:
    """Reads trainee replies for one scenario in one language (see the module docstring).

    ``policy``: the scenario's policy document in ``lang`` (Markdown); ``embeddings``: optional,
    for the similarity of reply sentences to each fact's ``ask_about``.
    """

    scenario: Scenario
    lang: str
    policy: str = ""
    embeddings: object | None = None
    similarity: float = SIMILARITY
    _facts: list[tuple[set[str], set[str]]] = field(init=False, repr=False)
    _offers: list[set[str]] = field(init=False, repr=False)
    _ask_vectors: list[list[float]] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        L, s = self.lang, self.scenario
        common = self._terms(" ".join([s.title(L), s.opening_line(L), s.customer.wants(L), s.customer.name(L)]))
        self._facts = []
        for h in s.customer.hidden_facts:
            ask = self._terms(h.ask_about(L)) - common
            self._facts.append((ask, self._terms(h.fact(L)) - common - ask))
        self._offers = [self._terms(o) - common for o in policy_offers(self.policy)]

    def _terms(self, text: str) -> set[str]:
        stop = _stopwords(self.lang)
        return {t for t in (normalise(w, self.lang) for w in words(text)) if len(t) >= 3 and t not in stop}

    def facts_found(self, reply: str) -> frozenset[int]:
        """Indices of the hidden facts ``reply`` asks about or states: its words score 1 per word of
        the fact's ``ask_about`` and 0.5 per word only in the fact, :data:`FACT_SCORE` uncovers it;
        with embeddings, also a reply sentence at least ``similarity`` close to the ``ask_about``."""
        terms = self._terms(reply)
        found = {i for i, (ask, fact) in enumerate(self._facts)
                 if len(terms & ask) + 0.5 * len(terms & fact) >= FACT_SCORE}
        if self.embeddings is not None and len(found) < len(self._facts):
            try:
                if self._ask_vectors is None:
                    self._ask_vectors = [self.embeddings.embed_query(h.ask_about(self.lang))
                                         for h in self.scenario.customer.hidden_facts]
                for sentence in _sentences(reply):
                    v = self.embeddings.embed_query(sentence)
                    found |= {i for i, a in enumerate(self._ask_vectors) if _cosine(v, a) >= self.similarity}
            except Exception:  # the embedding engine failed: the lexical reading stands
                pass
        return frozenset(found)

    def next_step(self, reply: str) -> bool:
        """Whether ``reply`` commits to something from the policy's "may offer" list: a commitment
        ("ik kan/ga/laat…", "I'll/I can/let me…") and :data:`OFFER_WORDS` words of one offer."""
        if not any(re.search(p, reply, re.I) for p in _COMMIT.get(self.lang, [])):
            return False
        terms = self._terms(reply)
        return any(len(terms & offer) >= OFFER_WORDS for offer in self._offers)
