"""Scene checks: does a candidate customer line belong to *this* scenario, and is it speech?

A small model copies what it sees: playbook lines written for another scenario, the
instructions of its own prompt, the list markup of its examples. :class:`SceneCheck` finds
these in a candidate line (returns reasons; empty = acceptable):

- **another scenario's facts** — every scenario's vocabulary is derived from its own files (the
  scenario YAML and its policy documents), never hand-listed: a word belongs to a scenario when
  it occurs at least :data:`MIN_COUNT` times in that scenario's files and in no other scenario's
  files (term frequencies compared across scenarios), a name when it is capitalised inside a
  sentence of only that scenario's files, an amount when it is a euro amount of only that
  scenario. A line that names a word, name or amount of another scenario, and does not occur in
  the current scenario's own files, is rejected. A trainer's new or edited scenario gets the same
  check from its own files, without code changes;
- **instruction text** — a line that reproduces a phrase of the customer's instructions (tactic
  and mood phrases, the prompt's headings and rules, the stage directions, the playbook's
  descriptions of a tactic): five words in a row, or a whole short phrase;
- **markup** — list markup, several lines or paragraphs, speaker labels.

Words are compared after :func:`normalise` (lower case, plural endings removed); a compound
that ends with a scenario word of six or more letters counts as that word (``eindafrekening`` → ``rekening``), and so does a Dutch
diminutive or ``-s`` plural (``pakketje`` → ``pakket``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from actor.persona.scenario import Scenario

MIN_COUNT = 4  # occurrences in one scenario's files (and none in another's) that make a word that scenario's
COMPOUND_MIN = 6  # a scenario word this long also counts as the head (last part) of a compound
INSTRUCTION_NGRAM = 5  # words in a row shared with an instruction text that count as reproducing it
KEYNESS = 5  # how much more often (relative frequency) than in generic text a scenario word occurs
PHRASE_WORDS = 4  # a short instruction phrase this long counts when it appears whole

_SUFFIX = {"s", "je", "jes", "tje", "tjes", "etje", "etjes", "pje", "pjes", "kje", "kjes", "otje", "otjes"}  # Dutch plural -s and diminutives: pakket → pakketje
_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
_AMOUNT = re.compile(r"€\s?(\d[\d.,]*\d|\d)|(\d[\d.,]*\d|\d)\s?(?:euro|eur)\b", re.I)
_SENTENCE_START = re.compile(r"(?:\A|[.!?:;\"“(‘'/–—]|^\s*[-*]|^\s*#+|^)\s*\Z", re.M)

# Function words never count as scenario vocabulary (in addition to bm25s's stop-word lists).
_EXTRA_STOP = {
    "nl": {"jullie", "wel", "even", "gewoon", "nou", "hoor", "eigenlijk", "alleen", "echt", "weer", "zeggen", "zegt",
           "klant", "medewerker", "mevrouw", "meneer", "mag", "mogen", "niet", "moet", "wordt"},
    "en": {"i've", "i'm", "i'll", "i'd", "you've", "you're", "you", "your", "lot", "just", "really", "only", "customer", "employee", "mrs", "mr", "may", "not", "the", "a",
           "i", "me", "my", "it", "is", "are", "was", "do", "does", "have", "has", "had", "to", "of", "in", "on", "at",
           "for", "with", "and", "or", "but", "that", "this", "what", "who", "when", "where", "how", "why", "be", "been"},
}


# Words before a noun ("het pakket", "your bill"): scenario vocabulary is things, names and amounts.
_DETERMINERS = {  # unambiguous ones only (Dutch "het", "dat", "die" are pronouns and conjunctions too)
    "nl": {"de", "een", "deze", "mijn", "uw", "jouw", "onze", "hun", "geen", "elk", "elke"},
    "en": {"the", "a", "an", "this", "these", "those", "my", "your", "our", "their", "each", "every"},
}


def _stopwords(lang: str) -> set[str]:
    from bm25s.stopwords import STOPWORDS_DUTCH, STOPWORDS_EN_PLUS

    return set(STOPWORDS_DUTCH if lang == "nl" else STOPWORDS_EN_PLUS) | _EXTRA_STOP.get(lang, set())


def normalise(word: str, lang: str) -> str:
    """``word`` lower-cased with plural endings removed: ``rekeningen`` → ``rekening``,
    ``pakketten`` → ``pakket``, ``cars`` → ``car`` (Dutch ``-s`` plurals and diminutives are
    matched by :meth:`SceneCheck.foreign`, since a Dutch word may end in ``s``: ``fiets``)."""
    w = word.lower().replace("’", "'").strip("'-")
    if w.endswith("'s"):
        w = w[:-2]
    if lang == "nl":
        if w.endswith("en") and len(w) >= 6:
            w = w[:-2]
            if len(w) >= 2 and w[-1] == w[-2]:
                w = w[:-1]  # pakketten → pakket
    else:
        if w.endswith("ies") and len(w) >= 5:
            w = w[:-3] + "y"
        elif w.endswith("s") and len(w) >= 4 and not w.endswith(("ss", "us", "is")):
            w = w[:-1]
    return w


def words(text: str) -> list[str]:
    """The words of ``text`` in order (letters first; digits and punctuation split them)."""
    return _WORD.findall(text)


def content_words(text: str, lang: str, letters: int = 3) -> set[str]:
    """The normalised words of ``text`` (:func:`normalise`) of at least ``letters`` letters that
    are not stop words in ``lang``."""
    stop = _stopwords(lang)
    return {normalise(w, lang) for w in words(text) if len(w) >= letters and w.lower() not in stop}


def amounts(text: str) -> set[str]:
    """Euro amounts in ``text`` as plain digits (``€1.184`` → ``1184``, ``430 euro`` → ``430``)."""
    out = set()
    for m in _AMOUNT.finditer(text):
        raw = m.group(1) or m.group(2)
        digits = re.sub(r"[.,](\d{3})\b", r"\1", raw)  # thousands separators
        digits = re.sub(r"[.,]00$", "", digits)
        out.add(digits.replace(",", ".").rstrip(".") or raw)
    return out


def _names(text: str) -> set[str]:
    """Capitalised words inside a sentence (not at its start): proper names of places, firms, people."""
    out = set()
    for m in _WORD.finditer(text):
        w = m.group(0)
        if w[:1].isupper() and not w.isupper() and not _SENTENCE_START.search(text[: m.start()]):
            out.add(w)
    return out


def scenario_texts(scenario: Scenario, lang: str) -> list[str]:
    """Every text of ``scenario`` in ``lang``: title, briefing, setting, role, customer, facts, opening."""
    c = scenario.customer
    texts = [scenario.title(lang), scenario.briefing(lang), scenario.setting(lang), scenario.employee_role(lang),
             c.name(lang), c.profile(lang), c.wants(lang), scenario.opening_line(lang)]
    for h in c.hidden_facts:
        texts += [h.fact(lang), h.ask_about(lang)]
    return texts


@dataclass(frozen=True)
class Vocabulary:
    """What belongs to one scenario in one language: ``own`` (every normalised word of its files),
    ``words`` (its distinctive words), ``names`` (normalised) and ``amounts`` (euro amounts as digits)."""

    own: frozenset[str]
    words: frozenset[str]
    names: frozenset[str]
    amounts: frozenset[str]
    own_amounts: frozenset[str] = frozenset()


def vocabularies(texts: dict[str, list[str]], lang: str, background: list[str] = ()) -> dict[str, Vocabulary]:
    """Each scenario's :class:`Vocabulary`, from ``{scenario id: [its texts in lang]}``.

    Term frequencies are compared: a word is distinctive for a scenario when it occurs at least
    :data:`MIN_COUNT` times there (at least once right after an article, possessive or
    demonstrative: a thing, not a verb or an adverb), nowhere in another scenario's texts, and its relative frequency
    there is at least :data:`KEYNESS` times its relative frequency in ``background`` (texts about
    no scenario in particular: the customer's instructions, the generic playbook); names (not in
    the background) and amounts need one occurrence. Stop words and words of fewer than three
    letters never are.
    """
    stop = _stopwords(lang)
    bg = Counter(normalise(w, lang) for w in words("\n".join(background)))
    bg_total = sum(bg.values()) or 1
    counts: dict[str, Counter] = {}
    nouns: dict[str, set[str]] = {}
    names: dict[str, set[str]] = {}
    money: dict[str, set[str]] = {}
    for sid, parts in texts.items():
        joined = "\n".join(parts)
        tokens = [normalise(w, lang) for w in words(joined)]
        counts[sid] = Counter(tokens)
        nouns[sid] = {b for a, b in zip(tokens, tokens[1:]) if a in _DETERMINERS.get(lang, ())}
        names[sid] = {normalise(n, lang) for n in _names(joined)} - stop - set(bg)
        money[sid] = amounts(joined)
    out = {}
    for sid in texts:
        others = [o for o in texts if o != sid]
        seen_elsewhere = set().union(*(counts[o] for o in others)) if others else set()
        total = sum(counts[sid].values()) or 1
        distinctive = {w for w, n in counts[sid].items()
                       if n >= MIN_COUNT and len(w) >= 3 and w not in stop and w not in seen_elsewhere and w in nouns[sid]
                       and n / total >= KEYNESS * bg[w] / bg_total}
        own_names = {n for n in names[sid] if n not in seen_elsewhere and len(n) >= 3}
        own_money = money[sid] - set().union(*(money[o] for o in others)) if others else money[sid]
        out[sid] = Vocabulary(frozenset(counts[sid]), frozenset(distinctive), frozenset(own_names), frozenset(own_money),
                              frozenset(money[sid]))
    return out


def _ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def _tokens(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"\w+", text)]


_LIST_MARKUP = re.compile(r"(?:^|\n)\s*(?:[-*•·]\s|\d+[.)]\s)")
_LABEL = r"(?:^|\n|[.!?]\s+)\s*\**(?:{labels})\**\s*:"


@dataclass
class SceneCheck:
    """The scene check for one scenario in one language (see the module docstring).

    ``vocab``: every scenario's :class:`Vocabulary` (by id) with ``scenario_id`` the current one;
    ``instructions``: texts the customer must never reproduce (five words in a row); ``phrases``:
    short instruction phrases (tactic, mood, stage directions, headings) that must not appear
    whole either; ``labels``: speaker labels (``Klant``, ``Medewerker``, names); ``policy``: the
    scenario's policy document in ``lang``. Build it with :meth:`from_files`.
    """

    scenario_id: str
    lang: str
    vocab: dict[str, Vocabulary]
    instructions: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    policy: str = ""

    def __post_init__(self) -> None:
        self._instruction_grams: set[tuple[str, ...]] = set()
        self._phrases: set[str] = set()
        self.add_instructions(self.instructions)
        self.add_instructions(self.phrases, phrases=True)
        names = sorted({re.escape(x) for x in self.labels if x.strip()}, key=len, reverse=True)
        self._label = re.compile(_LABEL.format(labels="|".join(names)), re.I) if names else None

    def add_instructions(self, texts: list[str], phrases: bool = False) -> None:
        """Add texts the customer must not reproduce: their word 5-grams, and with ``phrases`` each
        part of four or more words as a whole (parts are split at sentence marks and placeholders)."""
        for text in texts:
            for part in re.split(r"[\n.;:!?()]+|\{[^}]*\}", text):
                tokens = _tokens(part)
                if phrases and len(tokens) >= PHRASE_WORDS:
                    self._phrases.add(" ".join(tokens))
                self._instruction_grams |= _ngrams(tokens, INSTRUCTION_NGRAM)

    @classmethod
    def from_files(cls, scenario: Scenario, lang: str, scenarios: dict[str, Scenario] | None = None,
                   knowledge_dir: Path | None = None, instructions: list[str] = (), phrases: list[str] = (),
                   labels: list[str] = ()) -> "SceneCheck":
        """The check for ``scenario`` (possibly an edited version not yet saved) against every
        scenario of ``scenarios`` (default: ``prompts/scenarios``), with the policy documents and
        playbook descriptions of ``knowledge_dir`` (default: the configured knowledge folder).
        The instruction texts and the generic playbook documents (``scenario: null``: descriptions
        and example lines) are the background of words that belong to no scenario.

        Raises what :func:`~actor.knowledge.load_corpus` raises for invalid course files.
        """
        from actor.knowledge.documents import load_corpus
        from actor.persona.scenario import load_scenarios

        if knowledge_dir is None:
            from actor.config import Settings

            knowledge_dir = Settings().knowledge_dir
        scenarios = dict(scenarios if scenarios is not None else load_scenarios())
        scenarios[scenario.id] = scenario
        docs = load_corpus(Path(knowledge_dir), require_parallel=False) if Path(knowledge_dir).is_dir() else []
        texts = {sid: scenario_texts(s, lang) for sid, s in scenarios.items()}
        policy = ""
        for d in docs:
            if d.meta.lang == lang and d.meta.kind == "policy" and d.meta.scenario in texts:
                texts[d.meta.scenario].append(d.body)
                if d.meta.scenario == scenario.id:
                    policy += d.body
        generic = [d.body for d in docs if d.meta.lang == lang and d.meta.kind == "playbook" and d.meta.scenario is None]
        described = [playbook_descriptions(body) for body in generic]
        background = [*instructions, *phrases, *generic]  # generic customer speech and instructions
        return cls(scenario.id, lang, vocabularies(texts, lang, background), [*instructions, *described], list(phrases),
                   [*labels, *scenario.customer.name_forms(lang)], policy)

    def foreign(self, line: str) -> list[str]:
        """The words, names and amounts of ``line`` that belong to another scenario (empty = none)."""
        own = self.vocab[self.scenario_id]
        found = []
        tokens = [normalise(w, self.lang) for w in words(line)]
        for sid, v in self.vocab.items():
            if sid == self.scenario_id:
                continue
            for t in tokens:
                if t in own.own:
                    continue
                if t in v.words or t in v.names or any(
                        t != w and w not in own.own and (
                            (len(w) >= COMPOUND_MIN and t.endswith(w))  # a compound's head is its last part
                            or (t.startswith(w) and t[len(w):] in _SUFFIX))
                        for w in v.words):
                    found.append(f"{t} ({sid})")
            for a in amounts(line):
                if a in v.amounts and a not in own.own_amounts:
                    found.append(f"€{a} ({sid})")
        return sorted(set(found))

    def instruction_leak(self, line: str) -> bool:
        """Whether ``line`` reproduces instruction text: five words in a row of an instruction, or
        a whole instruction phrase of :data:`PHRASE_WORDS` or more words."""
        tokens = _tokens(line)
        if _ngrams(tokens, INSTRUCTION_NGRAM) & self._instruction_grams:
            return True
        joined = " " + " ".join(tokens) + " "
        return any(f" {p} " in joined for p in self._phrases)

    def markup(self, raw: str) -> list[str]:
        """Markup in the raw draft: list markup, several lines or paragraphs, speaker labels."""
        reasons = []
        text = raw.strip()
        if _LIST_MARKUP.search(text):
            reasons.append("list markup")
        if "\n" in text:
            reasons.append("several lines or paragraphs")
        if self._label and self._label.search(text):
            reasons.append("speaker label")
        return reasons

    def check(self, line: str, raw: str | None = None) -> list[str]:
        """Reasons to reject ``line`` (``raw``: the draft before tidying, for markup); empty = fine."""
        reasons = []
        foreign = self.foreign(line)
        if foreign:
            reasons.append(f"names another scenario: {', '.join(foreign)}")
        if self.instruction_leak(line):
            reasons.append("reproduces instruction text")
        reasons += self.markup(raw if raw is not None else line)
        return reasons


def playbook_descriptions(body: str) -> str:
    """The descriptive text of a playbook document: everything but its headings and example lines."""
    return "\n".join(line for line in body.splitlines()
                     if line.strip() and not line.lstrip().startswith(("#", "-", "*")))
