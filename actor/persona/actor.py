"""One actor turn: pick a tactic, retrieve playbook lines, prompt, generate, guard, fall back.

:meth:`Actor.reply` never returns a broken line: a generated line that the role guard rejects
(:mod:`actor.persona.guard`) is regenerated up to ``max_attempts`` times, then replaced by a
retrieved playbook line the customer has not used yet. Each :class:`ActorLine` records the path
that produced it (``model``, ``regenerated`` or ``fallback``), the tactic, the rejected drafts
and the prompt's sha256.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Iterator, Literal

import yaml
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict

from actor.evaluator.rubric import PROMPTS_DIR
from actor.persona.guard import MAX_WORDS, check_line, tidy_line
from actor.persona.scenario import Scenario
from actor.persona.state import PersonaState

# Tactics the playbook has per aggression type and level (knowledge/*/playbook; a test checks
# that every entry exists there with a level range that holds the level).
TACTICS: dict[str, dict[int, tuple[str, ...]]] = {
    "frustration": {0: ("vent",), 1: ("vent", "repeat_demand", "demand_manager"), 2: ("repeat_demand", "demand_manager", "threaten_review"),
                    3: ("insult", "demand_manager", "threaten_review"), 4: ("threaten_review",)},
    "instrumental": {0: ("repeat_demand", "false_claim"), 1: ("repeat_demand", "false_claim"),
                     2: ("repeat_demand", "false_claim", "demand_manager", "belittle"),
                     3: ("demand_manager", "belittle", "insult", "threaten_review"), 4: ("threaten_review", "intimidate")},
    "white_collar": {0: ("name_drop", "rules_for_others"), 1: ("name_drop", "belittle", "rules_for_others"),
                     2: ("name_drop", "belittle", "rules_for_others", "threaten_review"),
                     3: ("name_drop", "belittle", "threaten_review"), 4: ("threaten_review", "intimidate")},
}
TACTIC_WORDS = {
    "nl": {"vent": "je lucht je hart over de situatie", "repeat_demand": "je herhaalt je eis en accepteert geen nee",
           "demand_manager": "je eist een leidinggevende", "threaten_review": "je dreigt met een klacht, een slechte recensie of sociale media",
           "insult": "je valt de medewerker persoonlijk aan", "belittle": "je kleineert de medewerker",
           "false_claim": "je beweert iets wat niet klopt om je zin te krijgen", "name_drop": "je noemt belangrijke mensen die je kent",
           "rules_for_others": "je vindt dat de regels niet voor jou gelden", "intimidate": "je intimideert en dreigt"},
    "en": {"vent": "you vent about the situation", "repeat_demand": "you repeat your demand and accept no no",
           "demand_manager": "you demand a manager", "threaten_review": "you threaten a complaint, a bad review or social media",
           "insult": "you attack the employee personally", "belittle": "you belittle the employee",
           "false_claim": "you claim something untrue to get your way", "name_drop": "you mention important people you know",
           "rules_for_others": "you act as if the rules are not for you", "intimidate": "you intimidate and threaten"},
}
MOODS = {
    "nl": ["geïrriteerd over de situatie", "boos op de organisatie", "je weigert en trekt de regels in twijfel",
           "woedend en persoonlijk", "dreigend"],
    "en": ["irritated about the situation", "angry with the organisation", "refusing and challenging the rules",
           "furious and personal", "threatening"],
}


class PersonaPrompt(BaseModel):
    """One language of ``prompts/persona/customer.yaml`` (unknown keys rejected)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    system: str
    user: str
    customer_label: str
    employee_label: str


def load_persona_prompt(path: Path | None = None) -> tuple[dict[str, PersonaPrompt], str]:
    """``({lang: PersonaPrompt}, sha256 of the file)``."""
    raw = (path or PROMPTS_DIR / "persona" / "customer.yaml").read_bytes()
    data = yaml.safe_load(raw)
    return {lang: PersonaPrompt.model_validate(v) for lang, v in data.items()}, hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Utterance:
    """One line of the conversation: ``speaker`` is ``customer`` or ``employee``."""

    speaker: Literal["customer", "employee"]
    text: str


@dataclass(frozen=True)
class ActorLine:
    """What the customer says, and how it came about."""

    text: str
    path: Literal["scripted", "model", "regenerated", "fallback"]
    tactic: str
    prompt_sha256: str
    rejected: list[tuple[str, list[str]]] = field(default_factory=list)
    replaced_after_display: bool = False  # a streamed draft was shown, then rejected and replaced


def transcript_window(history: list[Utterance], max_lines: int = 12, keep: int = 6) -> list[Utterance]:
    """The part of ``history`` the customer's prompt shows: all of it up to ``max_lines``
    utterances; beyond that the opening line plus the most recent lines, dropped in blocks of
    ``max_lines - keep`` so the window's start moves only every few turns (the prompt prefix
    stays the same in between and llama.cpp keeps reusing it). Never more than ``max_lines + 1``
    utterances, so the prompt is bounded however long the session runs (a trainee line is at
    most 1000 characters, a customer line at most 40 words)."""
    if len(history) <= max_lines:
        return history
    block = max_lines - keep
    start = 1 + ((len(history) - max_lines - 1) // block + 1) * block
    return [history[0], Utterance("customer", "…"), *history[start:]] if start > 1 else history


def pick_tactic(state: PersonaState) -> str:
    """The tactic for this turn: rotates through those the playbook has for (type, level)."""
    options = TACTICS[state.aggression_type][state.level]
    if state.demand == "escalated" and "repeat_demand" in options:
        return "repeat_demand"
    return options[state.turn % len(options)]


def playbook_level(state: PersonaState) -> int:
    """The playbook level to draw lines from: instrumental and white-collar tactics start at L1."""
    return state.level if state.aggression_type == "frustration" else max(1, state.level)


def playbook_lines(chunks: list[str]) -> list[str]:
    """The bulleted example lines of playbook chunks."""
    lines = []
    for chunk in chunks:
        lines += [m.group(1).strip() for m in re.finditer(r"^\s*[-*]\s+(.+)$", chunk, re.M)]
    return lines


class Actor:
    """Plays the customer of ``scenario`` in ``lang`` with ``model``.

    ``retriever``: a :class:`~actor.knowledge.CourseRetriever` (or anything with the same
    ``query``) for playbook lines; ``max_attempts``: generations before the fallback.
    """

    STOP = ["\n\n", "\nMedewerker", "\nEmployee", "\nKlant:", "\nCustomer:"]
    HOLD_WORDS = 6  # words held back and checked before the first is shown

    def __init__(self, model: BaseChatModel, scenario: Scenario, lang: str, retriever=None, max_attempts: int = 3) -> None:
        self.model = model
        self.scenario = scenario
        self.lang = lang
        self.retriever = retriever
        self.max_attempts = max_attempts
        prompts, self.prompt_sha256 = load_persona_prompt()
        self.prompt = prompts[lang]

    def opening(self) -> ActorLine:
        """The scenario's scripted opening line."""
        return ActorLine(self.scenario.opening_line(self.lang), "scripted", "opening", self.prompt_sha256)

    def examples(self, tactic: str, state: PersonaState, k: int = 4) -> list[str]:
        """Up to ``k`` playbook lines for this tactic, type and level (rotated by turn)."""
        if self.retriever is None:
            return []
        hits = self.retriever.query(
            f"{state.aggression_type} {tactic}", k=3, per_document=None, lang=self.lang, kind="playbook",
            aggression_type=state.aggression_type, level=playbook_level(state), tactic=tactic,
        )
        lines = playbook_lines([h.text for h in hits])
        if not lines:
            return []
        start = state.turn % len(lines)
        return (lines[start:] + lines[:start])[:k]

    def messages(self, history: list[Utterance], state: PersonaState, tactic: str, examples: list[str]) -> list:
        """The chat messages for the customer's next line: what stays the same for the session
        first (system, transcript), what changes per turn (mood, tactic, examples) last."""
        c, p, L = self.scenario.customer, self.prompt, self.lang
        transcript = "\n".join(
            f"{p.customer_label if u.speaker == 'customer' else p.employee_label}: {u.text}"
            if u.text != "…" else "(…)" for u in transcript_window(history)
        )
        system = p.system.format(
            name=c.name(L), profile=c.profile(L), setting=self.scenario.setting(L), wants=c.wants(L),
            employee_role=self.scenario.employee_role(L),
            hidden="\n".join(f"- {h.fact(L)} ({h.ask_about(L)})" for h in c.hidden_facts),
        )
        user = p.user.format(
            transcript=transcript, mood=MOODS[L][state.level], tactic=TACTIC_WORDS[L][tactic],
            examples="\n".join(f"- {e}" for e in examples) or "-", speaker=p.customer_label,
        )
        return [SystemMessage(system), HumanMessage(user)]

    def prefill_messages(self, history: list[Utterance]) -> list:
        """The start of the next turn's prompt, up to the employee's label: what is already known
        while the trainee is still thinking (see :meth:`prefill`)."""
        p, L = self.prompt, self.lang
        full = self.messages(history, PersonaState(level=0, aggression_type="frustration"), "vent", [])
        head = p.user.split("{transcript}")[0]
        transcript = "\n".join(
            f"{p.customer_label if u.speaker == 'customer' else p.employee_label}: {u.text}"
            if u.text != "…" else "(…)" for u in transcript_window(history)
        )
        return [full[0], HumanMessage(f"{head}{transcript}\n{p.employee_label}:")]

    def prefill(self, history: list[Utterance]) -> None:
        """Evaluate the known start of the next prompt now (one token generated and dropped), so
        that llama.cpp finds it in its KV cache when the trainee replies: only the reply and the
        turn's instructions are left to evaluate then. Failures are ignored (it is an
        optimisation; the turn itself works without it). Only for models that keep a prompt
        cache in this process (``caches_prefix``, the embedded model); a no-op for others."""
        if not getattr(self.model, "caches_prefix", False):
            return
        try:
            self.model.invoke(self.prefill_messages(history), max_tokens=1)
        except Exception:
            pass

    def reply(self, history: list[Utterance], state: PersonaState) -> ActorLine:
        """The customer's next line after ``history`` in ``state`` (never empty, never broken)."""
        line = None
        for item in self.stream(history, state):
            line = item
        assert isinstance(line, ActorLine)
        return line

    def stream(self, history: list[Utterance], state: PersonaState) -> Iterator[str | ActorLine]:
        """Stream the customer's next line: yields the text so far (``str``, each time longer,
        or a different text after a rejected draft), then the final :class:`ActorLine`.

        Guarding while streaming: the first ``HOLD_WORDS`` words are held back and checked
        (voice, assistant, leaks, language) before anything is shown, so most broken drafts are
        dropped unseen; the whole line is checked again at the end (repeats, late slips) and, if
        rejected, replaced by the next draft or the fallback line. A failed model call is one
        failed attempt.
        """
        tactic = pick_tactic(state)
        examples = self.examples(tactic, state)
        messages = self.messages(history, state, tactic, examples)
        earlier = [u.text for u in history if u.speaker == "customer"]
        employee = next((u.text for u in reversed(history) if u.speaker == "employee"), "")
        rejected: list[tuple[str, list[str]]] = []
        replaced = False  # a draft was shown, then rejected
        for attempt in range(self.max_attempts):
            raw, released, reasons = "", False, []
            chunks = self.model.stream(messages, stop=self.STOP)
            try:
                for chunk in chunks:
                    raw += chunk.text
                    text = tidy_line(raw)
                    if "\n\n" in raw.strip() or len(raw.split()) > MAX_WORDS + 5:
                        break
                    if not released and len(text.split()) >= self.HOLD_WORDS:
                        reasons = [r for r in check_line(text, self.lang, level=state.level, employee=employee)
                                   if not r.startswith("repeat")]
                        if reasons:
                            break
                        released = True
                    if released:
                        yield text
            except Exception as exc:  # a failed call is one failed attempt, not a lost turn
                rejected.append((raw, [f"model error: {type(exc).__name__}"]))
                continue
            finally:
                close = getattr(chunks, "close", None)
                if close:
                    close()  # releases the model's lock at once when we stop early
            draft = tidy_line(raw)
            reasons = reasons or check_line(draft, self.lang, earlier, state.level, employee)
            if not reasons:
                yield draft
                yield ActorLine(draft, "model" if attempt == 0 else "regenerated", tactic, self.prompt_sha256, rejected, replaced)
                return
            rejected.append((draft, reasons))
            replaced = replaced or released
        text = self._fallback(examples, earlier, state)
        yield text
        yield ActorLine(text, "fallback", tactic, self.prompt_sha256, rejected, replaced)

    def _fallback(self, examples: list[str], earlier: list[str], state: PersonaState) -> str:
        unused = [e for e in examples if all(SequenceMatcher(None, e.lower(), x.lower()).ratio() <= 0.8 for x in earlier)]
        if unused:
            return unused[0]
        if examples:
            return examples[0]
        return self.scenario.customer.wants(self.lang)
