"""One actor turn: pick a tactic, retrieve this scenario's playbook lines, tell the customer what
the trainee's reply changed, generate, check the whole line, regenerate or fall back.

:meth:`Actor.stream` never shows a broken line and never takes one back: every piece is checked
(:meth:`Actor.check`: the role guard of :mod:`actor.persona.guard` against every earlier line,
and the scene check of :mod:`actor.persona.scene`) before it is yielded. On a model that can
continue a started answer (the embedded one) the first word is shown as soon as it is
decoded and checked, then each further sentence once checked, and a rejected rest is
regenerated from what is shown; on other models the first sentence is the first piece shown and
a rejected draft is regenerated whole. After ``max_attempts`` an unused, checked playbook line
or an in-character line of the prompt file stands in. :meth:`Actor.signals` reads the trainee's reply for the
state machine (hidden facts, a next step within policy; :mod:`actor.persona.concern`). Each
:class:`ActorLine` records the path that produced it (``model``, ``regenerated`` or
``fallback``), the tactic, the rejected drafts with their reasons and the prompt's sha256.
"""

from __future__ import annotations

import re
import time
from difflib import SequenceMatcher
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, model_validator

from actor.persona.concern import ReplyReader, asks_role_reversal
from actor.persona.guard import (
    COOPERATIVE_FIRST_WORDS,
    COOPERATIVE_OPENINGS,
    COOPERATIVE_WORDS,
    EMPLOYEE_OPENINGS,
    MAX_WORDS,
    NARRATION_OPENINGS,
    SATISFIED_OPENINGS,
    check_line,
    repeats,
    tidy_line,
)
from actor.persona.scenario import Scenario
from actor.persona.scene import SceneCheck
from actor.persona.state import PersonaState, TurnSignals

SHOW_WORDS = 4  # the first complete sentences of a draft are checked and shown once they have this many words
OPENING_WORDS = 4  # an earlier sentence's first words that a draft may not open with again (see said_openings)
OWN_OPENING_WORDS = 3  # the same for the customer's own earlier sentences and rejected drafts: near-repeats
# ("I'm still unhappy about this" → "I'm still unhappy with the damage") vary from the fourth word on
OPEN_WORDS = 1  # with a model that continues a started answer: its first word is checked and shown at once
_SENTENCE_END = re.compile(r"[.!?…]+[\"”’)]*(?=\s)")
_ENDS_SENTENCE = re.compile(r"[.!?…][\"”’)]*$")


def opening_words(raw: str, n: int = OPEN_WORDS) -> str | None:
    """The first ``n`` words of a draft in progress (tidied, see
    :func:`~actor.persona.guard.tidy_line`) once a further word has begun, else ``None``."""
    words = tidy_line(raw.lstrip().split("\n")[0]).split()
    return " ".join(words[:n]) if len(words) > n else None


def whole_sentences(raw: str) -> str | None:
    """A draft in progress up to its last complete sentence (tidied; a sentence counts as
    complete when its end mark is followed by more text), else ``None``."""
    line = raw.lstrip().split("\n")[0]
    ends = list(_SENTENCE_END.finditer(line))
    return tidy_line(line[: ends[-1].end()]) if ends else None


def first_sentences(raw: str, min_words: int = SHOW_WORDS) -> str | None:
    """The first complete sentences of a draft in progress (tidied, see
    :func:`~actor.persona.guard.tidy_line`) once they have ``min_words`` words, else ``None``. A
    sentence counts as complete when its end mark is followed by more text (a space), so a
    draft still being generated is never cut inside a sentence or a number."""
    line = raw.lstrip().split("\n")[0]
    for m in _SENTENCE_END.finditer(line):
        head = tidy_line(line[: m.end()])
        if len(head.split()) >= min_words:
            return head
    return None

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


class StageDirections(BaseModel):
    """What the customer is told about the employee's last reply, one text per kind of change
    (see :mod:`actor.persona.state`); ``fact`` may use ``{fact}`` and ``{ask_about}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    none: str
    fact: str
    heard: str
    no_progress: str
    next_step: str
    outside_policy: str
    boundary_set: str
    boundary_held: str
    provoked: str
    reversal: str
    resolved: str
    ended: str


class Closing(BaseModel):
    """The customer's last lines after the scenario resolved, and after the employee ended the
    conversation: the examples of the closing line's prompt, and its fallback."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    resolved: list[str] = Field(min_length=1)
    ended: list[str] = Field(min_length=1)


class PersonaPrompt(BaseModel):
    """One language of ``prompts/persona/customer.yaml`` (unknown keys rejected).

    ``system``: the customer's part; ``start``: the first user turn (before the opening line);
    ``user``: the last user turn (examples, the reply, the stage direction);
    ``changes``: the stage directions; ``stay_in_role``: in-character lines for when every draft
    failed (after a role-reversal attempt first, otherwise after the playbook lines);
    ``closing``: the last line when every draft failed after the scenario ended; ``moods``: the
    mood at escalation levels 0–4 (``{mood}``); ``tactics``: a phrase per playbook tactic of
    :data:`TACTICS` and ``close`` (``{tactic}``), exactly those keys.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    system: str
    start: str
    user: str
    customer_label: str
    employee_label: str
    changes: StageDirections
    stay_in_role: list[str] = Field(min_length=1)
    closing: Closing
    moods: list[str] = Field(min_length=5, max_length=5)
    tactics: dict[str, str]

    @model_validator(mode="after")
    def _every_tactic_named(self) -> "PersonaPrompt":
        wanted = {t for levels in TACTICS.values() for names in levels.values() for t in names} | {"close"}
        if set(self.tactics) != wanted:
            missing, unknown = sorted(wanted - set(self.tactics)), sorted(set(self.tactics) - wanted)
            raise ValueError(f"tactics must name exactly the playbook's tactics and close (missing {missing}, unknown {unknown})")
        return self


def load_persona_prompt(path: Path | None = None) -> tuple[dict[str, PersonaPrompt], str]:
    """``({lang: PersonaPrompt}, sha256 of the file)`` for ``path`` (default: the shipped
    ``prompts/persona/customer.yaml``, through the prompt-file loader's cache, so a trainer's
    saved edit is used after :func:`actor.prompt_files.reload`). Fields and placeholders are
    checked by :mod:`actor.prompt_files`; raises its ``PromptFileError`` for an invalid file."""
    from actor import prompt_files  # it imports this module for the editor's validation

    name = "persona/customer.yaml"
    file = prompt_files.read(path, name) if path else prompt_files.load(name)
    return {"nl": file.nl, "en": file.en}, file.sha256


def instruction_texts(prompt: PersonaPrompt, lang: str) -> tuple[list[str], list[str]]:
    """What the customer must never say, from its own instructions: ``(texts, phrases)``. Texts
    (the prompt templates) are matched by five words in a row; phrases (tactic and mood phrases,
    the stage directions, the prompt's headings) also as whole phrases."""
    headings = [line.split("{")[0] for line in prompt.user.splitlines() if line.strip()]
    phrases = [*prompt.tactics.values(), *prompt.moods, *prompt.changes.model_dump().values(), *headings]
    return [prompt.system, prompt.user, prompt.start], phrases


class DraftError(RuntimeError):
    """A model call failed while drafting; ``raw`` is the text generated until then."""

    def __init__(self, raw: str) -> None:
        super().__init__("the model call failed while drafting")
        self.raw = raw


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
    replaced_after_display: bool = False  # kept for stored sessions: lines are now checked before they are shown
    seconds: dict[str, float] = field(default_factory=dict)  # "shown": first text yielded; "line": the line complete


def transcript_window(history: list[Utterance], max_lines: int = 12, keep: int = 6) -> list[Utterance]:
    """The part of ``history`` the customer's prompt shows: all of it up to ``max_lines``
    utterances; beyond that the opening line plus the most recent lines, dropped in blocks of
    ``max_lines - keep`` (an even number: whole employee–customer exchanges) so the window's start
    moves only every few turns. Nothing is put in the place of the dropped lines, so the new
    prompt is the old one with a part left out and llama.cpp keeps the rest of its cache
    (:func:`~actor.llm.local.reuse_shifted`). Never more than ``max_lines`` utterances, so the
    prompt is bounded however long the session runs (a trainee line is at most 1000 characters,
    a customer line at most 40 words)."""
    if len(history) <= max_lines:
        return history
    block = max_lines - keep
    start = 1 + ((len(history) - max_lines - 1) // block + 1) * block
    return [history[0], *history[start:]] if start > 1 else history


def _bullets(examples: list[str]) -> str:
    """Example lines as the prompt lists them (``-`` when there are none)."""
    return "\n".join(f"- {e}" for e in examples) or "-"


def said_openings(texts: list[str], head_words: int = OPENING_WORDS) -> list[str]:
    """The openings a draft may not start with (``ban_openings``), from the sentences of
    ``texts`` without their closing punctuation: a sentence of 2 to ``head_words`` words whole
    (the draft cannot end it with its last word), a longer one's first ``head_words`` words.
    A run penalty (``avoid``) lets a short line through ("Dat is waar." is four tokens, under its
    allowance; regenerating after a repeat drew it three times in one turn), and it let the
    customer open six lines in a row with "I'm still trying to …" (each a new sentence after it)."""
    out: list[str] = []
    for text in texts:
        for sentence in re.split(r"(?<=[.!?…])\s+", text.strip()):
            sentence = re.sub(r"[\s.!?…,;:]+$", "", sentence)
            head = " ".join(sentence.split()[:head_words])
            if len(head.split()) >= 2 and head not in out:
                out.append(head)
    return out


def openings_after(openings: list[str], shown: str) -> list[str]:
    """What may not follow ``shown`` (a started answer) for the line not to begin with one of
    ``openings``: the rest of each opening that starts with ``shown`` and a space
    (``openings_after(["Dat is waar"], "Dat") == ["is waar"]``)."""
    return [o[len(shown):].strip() for o in openings if o.startswith(shown + " ")]


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
    ``query``) for playbook lines, always filtered on this scenario; ``max_attempts``: generations
    before the fallback; ``scene``: the :class:`~actor.persona.scene.SceneCheck` (default: derived
    from the scenario files and ``knowledge_dir``, default the configured knowledge folder);
    ``embeddings``: optional, to read hidden facts from the trainee's reply by similarity too;
    ``sampling``: extra generation arguments for the model (e.g. ``presence_penalty``);
    ``steer``: for models with ``supports_avoid`` (the embedded one), penalise runs of earlier
    lines of either speaker at word starts and forbid the cooperative words and openings of
    :mod:`actor.persona.guard` from L2 on (see
    :class:`~actor.llm.local.RepeatPenalty`; measured with ``benchmarks/repetition_controls.py``);
    ``retry_temperature``: the sampling temperature of a regenerated draft (models with a
    ``temperature`` field), so a retry does not redraw the rejected line.
    Raises what :meth:`SceneCheck.from_files` raises for invalid course files.
    """

    STOP = ["\n\n", "\nMedewerker", "\nEmployee", "\nKlant:", "\nCustomer:"]

    def __init__(self, model: BaseChatModel, scenario: Scenario, lang: str, retriever=None, max_attempts: int = 3,
                 scene: SceneCheck | None = None, embeddings=None, knowledge_dir: Path | None = None,
                 sampling: dict | None = None, steer: bool = True,
                 retry_temperature: float = 1.0) -> None:
        self.model = model
        self.scenario = scenario
        self.lang = lang
        self.retriever = retriever
        self.max_attempts = max_attempts
        self.sampling = dict(sampling or {})
        self.steer = steer
        self.retry_temperature = retry_temperature
        prompts, self.prompt_sha256 = load_persona_prompt()
        self._prompt = prompts[lang]
        texts, phrases = instruction_texts(self._prompt, lang)
        labels = [self._prompt.customer_label, self._prompt.employee_label, "Trainee", "Assistant", "Assistent",
                  "Klant", "Customer", "Medewerker", "Employee"]
        self.scene = scene or SceneCheck.from_files(scenario, lang, knowledge_dir=knowledge_dir, instructions=texts,
                                                    phrases=phrases, labels=labels)
        self.reader = ReplyReader(scenario, lang, self.scene.policy, embeddings)
        self._own_names()
        self._upcoming: tuple = (None, ([], "", 0))  # (key, (examples, tactic, mood level)) of upcoming()

    @property
    def prompt(self) -> PersonaPrompt:
        """The customer's prompt in this language; setting another one (a trainer's edit) adds its
        texts to what the scene check treats as instructions."""
        return self._prompt

    @prompt.setter
    def prompt(self, value: PersonaPrompt) -> None:
        self._prompt = value
        self._own_names()
        texts, phrases = instruction_texts(value, self.lang)
        self.scene.add_instructions(texts)
        self.scene.add_instructions(phrases, phrases=True)

    def opening(self) -> ActorLine:
        """The scenario's scripted opening line."""
        return ActorLine(self.scenario.opening_line(self.lang), "scripted", "opening", self.prompt_sha256)

    def signals(self, reply: str, move: str, next_step: bool | None = None, within_policy: bool | None = None) -> TurnSignals:
        """The turn's :class:`~actor.persona.state.TurnSignals` for the trainee's ``reply`` judged as
        ``move``: hidden facts read from the reply; ``next_step`` and ``within_policy`` as given by
        the judgement, else read from the reply (a commitment to an offer of the policy) and from
        the move (a concession is outside policy)."""
        return TurnSignals(
            move=move,
            next_step=self.reader.next_step(reply) if next_step is None else next_step,
            within_policy=move != "cave" if within_policy is None else within_policy,
            facts_found=self.reader.facts_found(reply),
        )

    def examples(self, tactic: str, state: PersonaState, k: int = 4, said: list[str] = ()) -> list[str]:
        """Up to ``k`` playbook lines for this tactic, type, level and scenario (this scenario's own
        lines first, then generic ones; rotated by turn); lines the scene check rejects and lines
        like one already ``said`` (the small model copies examples) are left out."""
        if self.retriever is None:
            return []
        hits = self.retriever.query(
            f"{state.aggression_type} {tactic}", k=4, per_document=None, lang=self.lang, kind="playbook",
            scenario=self.scenario.id, aggression_type=state.aggression_type, level=playbook_level(state), tactic=tactic,
        )
        own = [h for h in hits if (getattr(h, "metadata", None) or {}).get("scenario") == self.scenario.id]
        rest = [h for h in hits if h not in own]
        lines = [x for x in playbook_lines([h.text for h in own + rest]) if not self.scene.foreign(x) and not repeats(x, said)]
        if not lines:
            return []
        start = state.turn % len(lines)
        return (lines[start:] + lines[:start])[:k]

    def stage_direction(self, history: list[Utterance], state: PersonaState) -> str:
        """What the employee's last reply changed, told to the customer (session language): from
        ``state.changes``, plus the role-reversal direction when the reply tried to swap roles;
        when the scenario has ended (``state.outcome``), only the closing direction."""
        d, facts = self._prompt.changes, self.scenario.customer.hidden_facts
        parts = []
        last = next((u.text for u in reversed(history) if u.speaker == "employee"), "")
        if state.outcome == "resolved":
            return d.resolved[:1].upper() + d.resolved[1:]
        if state.ended:
            return d.ended[:1].upper() + d.ended[1:]
        if last and asks_role_reversal(last):
            parts.append(d.reversal)
        for code in state.changes:
            if code.startswith("fact:"):
                i = int(code.split(":")[1])
                if 0 <= i < len(facts):
                    parts.append(d.fact.format(fact=facts[i].fact(self.lang), ask_about=facts[i].ask_about(self.lang)))
            elif code in type(d).model_fields:
                parts.append(getattr(d, code))
        return " ".join(p[:1].upper() + p[1:] for p in parts) or d.none[:1].upper() + d.none[1:]

    def _turns(self, lines: list[Utterance]) -> list:
        """The conversation so far as chat turns: the customer's lines as the model's own
        (assistant) turns, the employee's as user turns (``Medewerker: …``), after the ``start``
        turn; long sessions show a window (:func:`transcript_window`)."""
        p = self._prompt
        turns: list = [HumanMessage(p.start)]
        for u in transcript_window(lines):
            if u.speaker == "customer":
                msg = AIMessage(u.text)
            else:
                msg = HumanMessage(f"{p.employee_label}: {u.text}")
            if type(turns[-1]) is type(msg):
                turns[-1] = type(msg)(f"{turns[-1].text}\n{msg.text}")
            else:
                turns.append(msg)
        return turns

    def _system(self) -> str:
        c, L = self.scenario.customer, self.lang
        return self._prompt.system.format(
            name=c.name(L), profile=c.profile(L), setting=self.scenario.setting(L), wants=c.wants(L),
            employee_role=self.scenario.employee_role(L),
            hidden="\n".join(f"- {h.fact(L)} ({h.ask_about(L)})" for h in c.hidden_facts),
        )

    def messages(self, history: list[Utterance], state: PersonaState, tactic: str, examples: list[str],
                 changed: str | None = None, mood_level: int | None = None) -> list:
        """The chat messages for the customer's next line after ``history`` (which ends with the
        employee's reply), ordered by when each part is known: the system text (fixed for the
        session), the conversation up to the customer's last line (:meth:`_turns`) and, in the
        last user turn, the ``examples`` (both known before the employee replies; :meth:`prefill`
        evaluates them while the employee types), then what only the reply decides: the reply,
        the stage direction ``changed`` (default :meth:`stage_direction`); the mood of
        ``mood_level`` (default ``state.level``) and ``tactic`` (the shipped prompt names them
        before the reply, chosen with the examples, so only the reply and the direction are new
        once the employee has replied). Returns ``[SystemMessage, HumanMessage/AIMessage…, HumanMessage]``."""
        p = self._prompt
        reply = history[-1].text if history and history[-1].speaker == "employee" else ""
        before = history[:-1] if reply else history
        user = p.user.format(
            # the space ends the reply's last token where the transcript's copy of it ends (before the
            # end of the turn), not in a token merged with the newline that follows here (".\n\n"), so the
            # next turn finds the reply in the KV cache (see :func:`~actor.llm.local.reuse_shifted`)
            examples=_bullets(examples), employee=p.employee_label, reply=f"{reply} " if reply else reply,
            changed=self.stage_direction(history, state) if changed is None else changed,
            mood=p.moods[state.level if mood_level is None else mood_level], tactic=p.tactics[tactic],
            speaker=p.customer_label,
        )
        return [SystemMessage(self._system()), *self._turns(before), HumanMessage(user)]

    def upcoming(self, history: list[Utterance], before: PersonaState) -> tuple[list[str], str, int]:
        """``(examples, tactic, mood level)`` for the customer's next line, chosen before the
        employee replies (from ``before``, the state the customer's last line was spoken in,
        one turn on), so that the prompt up to the reply is known in advance; what the reply
        changes is told after it, in the stage direction. Kept for the last ``(history, state)``
        asked, so the turn reuses what the prefill retrieved."""
        said = tuple(u.text for u in history if u.speaker == "customer")
        key = (said, before)
        if self._upcoming[0] != key:
            nxt = replace(before, turn=before.turn + 1)
            tactic = pick_tactic(nxt)
            self._upcoming = (key, (self.examples(tactic, nxt, said=list(said)), tactic, nxt.level))
        examples, tactic, level = self._upcoming[1]
        return list(examples), tactic, level

    def prefill_messages(self, history: list[Utterance], state: PersonaState | None = None) -> list:
        """The start of the next turn's prompt, up to the employee's label: what is already known
        while the trainee is still thinking (see :meth:`prefill`). ``history`` ends with the
        customer's last line; ``state``: the state it was spoken in (default: the difficulty's
        opening state is not known here, so no examples)."""
        p = self._prompt
        examples, tactic, level = self.upcoming(history, state) if state is not None else ([], None, None)
        head = p.user.split("{reply}")[0].rstrip(" ")
        keys = {"changed": "", "speaker": p.customer_label,
                "mood": p.moods[level] if level is not None else "", "tactic": p.tactics[tactic] if tactic else ""}
        text = head.format(examples=_bullets(examples), employee=p.employee_label, **keys)
        return [SystemMessage(self._system()), *self._turns(history), HumanMessage(text)]

    def prefill(self, history: list[Utterance], state: PersonaState | None = None) -> None:
        """Evaluate the known start of the next prompt now (one token generated and dropped), so
        that llama.cpp finds it in its KV cache when the trainee replies: only the reply and the
        turn's direction are left to evaluate then. Failures are ignored (it is an
        optimisation; the turn itself works without it). Only for models that keep a prompt
        cache in this process (``caches_prefix``, the embedded model); a no-op for others."""
        if not getattr(self.model, "caches_prefix", False):
            return
        try:
            self.model.invoke(self.prefill_messages(history, state), max_tokens=1, priority="prefill")
        except Exception:
            pass

    def reply(self, history: list[Utterance], state: PersonaState, before: PersonaState | None = None) -> ActorLine:
        """The customer's next line after ``history`` in ``state`` (never empty, never broken)."""
        line = None
        for item in self.stream(history, state, before):
            line = item
        assert isinstance(line, ActorLine)
        return line

    def check(self, text: str, raw: str, history: list[Utterance], level: int) -> list[str]:
        """Reasons to reject ``text`` (``raw``: the draft before tidying) as the next line after
        ``history``: the role guard against ALL earlier customer lines (repeats) and ALL earlier
        employee lines (echoes), and the scene check (other scenarios, instructions, markup)."""
        earlier = [u.text for u in history if u.speaker == "customer" and u.text != "…"]
        employee = [u.text for u in history if u.speaker == "employee"]
        body = self.unlabelled(raw.strip())  # continuing the transcript's format is not a leak
        reasons = check_line(text, self.lang, earlier, level, employee)
        if "speaks as the employee" not in reasons and self.addresses_itself(text):
            reasons.append("speaks as the employee")
        return reasons + self.scene.check(text, body)

    def _own_names(self) -> None:
        """Compile, once per prompt, the patterns of the customer's own labels and name (see
        :meth:`unlabelled`, :meth:`may_be_label`, :meth:`addresses_itself`; they run per streamed chunk)."""
        forms = self.scenario.customer.name_forms(self.lang)
        labels = sorted(dict.fromkeys([self._prompt.customer_label, "Klant", "Customer", *forms]), key=len, reverse=True)
        self._label_starts = [f"{f.lower()}:" for f in labels]
        self._label = re.compile(rf"^\s*\**(?:{'|'.join(map(re.escape, labels))})\**\s*:\**\s*", re.I)
        self._address = re.compile(rf",\s*(?:{'|'.join(map(re.escape, forms))})\s*(?:[.!?,]|$)|^\W*{re.escape(forms[0])}\s*,",
                                   re.I)

    def addresses_itself(self, text: str) -> bool:
        """Whether ``text`` addresses the customer by the customer's own name, as the employee
        would ("I'm sure you can handle this, Mr Whitfield.", "Meneer Smit, ik kijk even na."):
        the name after a comma at a clause's end, or the full name opening the line with a comma.
        Saying one's name ("Met Smit.", "I'm Mr Holt.") is not addressing."""
        return bool(self._address.search(text))

    def unlabelled(self, raw: str) -> str:
        """``raw`` without a leading speaker label of the customer's own ("Klant:", "Smit:",
        "**Meneer Smit:**": the model continuing the transcript's format); other text unchanged."""
        return self._label.sub("", raw)

    def may_be_label(self, raw: str) -> bool:
        """Whether the start of a fresh draft ``raw`` may still become one of the customer's own
        speaker labels ("Meneer Sm…" of "Meneer Smit:"): its first word is not shown yet."""
        start = raw.lstrip().lstrip("*").lower()
        return bool(start) and any(label.startswith(start) for label in self._label_starts)

    def stream(self, history: list[Utterance], state: PersonaState,
               before: PersonaState | None = None) -> Iterator[str | ActorLine]:
        """The customer's next line: yields the text shown so far (``str``: the first sentences
        once checked, then the whole line if it passes too), then the final :class:`ActorLine`.
        ``state``: the state after the employee's reply (the last line of ``history``);
        ``before``: the state before it, which chose the examples, tactic and mood (:meth:`upcoming`;
        default ``state``).

        Nothing is shown that is taken back: the first complete sentences of a draft (at least
        :data:`SHOW_WORDS` words) are checked as a line of their own (:meth:`check`) before they
        are shown, and the whole draft is checked before the rest is added; a rest that fails is
        left out (the line ends after what was shown). A draft whose first sentences fail is
        stopped at once and regenerated, up to ``max_attempts`` times, then replaced by the
        fallback (an unused, checked playbook line of this scenario, or an in-character line of
        the prompt file). A failed model call is one failed attempt. With a model that can
        continue a started answer (``supports_continue``, the embedded one) the first words are
        shown sooner and a rejected rest is regenerated from what is shown (:meth:`_continued`).
        """
        known = history[:-1] if history and history[-1].speaker == "employee" else history
        start = time.perf_counter()
        if state.ended:  # a closing line presses no more: its examples are the prompt file's closing lines
            examples, tactic, mood_level = self.closing_lines(state), "close", None
        else:
            examples, tactic, mood_level = self.upcoming(known, before or state)
            if before is None:  # only the state after the reply is known: its own tactic and mood
                tactic, mood_level = pick_tactic(state), state.level
        level = 0 if state.outcome == "resolved" else state.level  # accepting may sound cooperative
        changed = self.stage_direction(history, state)
        messages = self.messages(history, state, tactic, examples, changed, mood_level)
        if getattr(self.model, "supports_continue", False):
            yield from self._continued(history, state, messages, examples, tactic, changed, level, start)
            return
        rejected: list[tuple[str, list[str]]] = []
        for attempt in range(self.max_attempts):
            vary = self.steering(history, changed, level, rejected, attempt)
            shown: str | None = None
            shown_at: float | None = None
            raw, head_reasons = "", []
            try:
                for raw in self._raw_drafts(messages, **vary):
                    if shown is not None:
                        continue
                    head = first_sentences(raw)
                    if head is None:
                        continue
                    head_reasons = self.check(head, head, history, level)
                    if head_reasons:
                        break  # the start is already wrong: stop this draft
                    shown, shown_at = head, time.perf_counter() - start
                    yield head
            except DraftError as exc:  # a failed call is one failed attempt, not a lost turn
                if shown is None:
                    rejected.append((exc.raw, [f"model error: {type(exc.__cause__).__name__}"]))
                    continue
                raw = shown
            draft = tidy_line(raw)
            if shown is None:
                reasons = head_reasons or self.check(draft, raw, history, level)
                if reasons:
                    rejected.append((first_sentences(raw) or draft if head_reasons else draft, reasons))
                    copied = [e for e in examples if SequenceMatcher(None, e.lower(), draft.lower()).ratio() > 0.8]
                    if copied:  # the draft copied an example: the next attempt does without it
                        examples = [e for e in examples if e not in copied]
                        messages = self.messages(history, state, tactic, examples, changed, mood_level)
                    continue
                shown, shown_at = draft, time.perf_counter() - start
                yield draft
            elif draft != shown:
                rest = self.check(draft, raw, history, level) if draft.startswith(shown) else ["does not continue the shown text"]
                if rest:
                    rejected.append((draft, ["rest left out: " + r for r in rest]))
                else:
                    shown = draft
                    yield draft
            yield ActorLine(shown, "model" if attempt == 0 else "regenerated", tactic, self.prompt_sha256, rejected,
                            seconds={"shown": shown_at, "line": time.perf_counter() - start})
            return
        text = self._fallback(examples, history, state)
        shown_at = time.perf_counter() - start
        yield text
        yield ActorLine(text, "fallback", tactic, self.prompt_sha256, rejected, seconds={"shown": shown_at, "line": shown_at})

    def _continued(self, history: list[Utterance], state: PersonaState, messages: list, examples: list[str],
                   tactic: str, changed: str, level: int, start: float) -> Iterator[str | ActorLine]:
        """:meth:`stream` for a model that continues a started answer (``supports_continue``):
        the first :data:`OPEN_WORDS` words are checked (:meth:`check`) and shown as soon as they
        are decoded, then each further complete sentence once the line up to it passes the
        check. A draft that fails is stopped; when what is shown is whole sentences the line ends
        there (the rest is left out), otherwise the next attempt CONTINUES what is shown
        (``continue_from``; a continuation must start a new word), steered away from the
        rejected text; nothing shown is ever taken back. When the attempts run out, an
        unfinished line trails off ("…") into the fallback line; with nothing shown, the
        fallback is the line."""
        shown, shown_at = "", None
        whole = False  # whether ``shown`` is whole sentences (or a whole line), not just its first word
        rejected: list[tuple[str, list[str]]] = []
        for attempt in range(self.max_attempts):
            vary = self.steering(history, changed, level, rejected, attempt)
            base = shown  # the text this draft continues ("" = a fresh answer)
            if base:
                vary["continue_from"] = base
                vary["ban_openings"] = openings_after(vary.get("ban_openings", ()), base)
            raw, failed = "", None
            try:
                for raw in self._raw_drafts(messages, **vary):
                    full = base + raw
                    if base and raw[:1].isalnum():  # "Waar" + "om": the shown word would change
                        failed = (full, ["continues inside the shown word"])
                        break
                    if not shown:
                        head, complete = opening_words(full), False
                    else:
                        head, complete = whole_sentences(full), True
                        head = head if head and head != shown and head.startswith(shown) else None
                    if head is None:
                        continue
                    reasons = self.check(head, full, history, level)
                    if reasons:
                        failed = (head, reasons)
                        break  # stop this draft; the next one continues what is shown
                    shown, whole = head, complete
                    shown_at = shown_at if shown_at is not None else time.perf_counter() - start
                    yield shown
            except DraftError as exc:  # a failed call is one failed attempt, not a lost turn
                failed = (base + exc.raw, [f"model error: {type(exc.__cause__).__name__}"])
            if failed is None:
                line = tidy_line(base + raw)
                if not line:
                    failed = (line, ["empty"])
                elif line == shown and not whole:
                    failed = (line, ["nothing after the first word"])
                elif line != shown:
                    reasons = self.check(line, base + raw, history, level) if line.startswith(shown) else [
                        "does not continue the shown text"]
                    if reasons:
                        failed = (line, reasons)
                    else:
                        shown, whole = line, True
                        shown_at = shown_at if shown_at is not None else time.perf_counter() - start
                        yield shown
            if failed is not None:
                rejected.append(failed)
            if shown and whole and (failed is None or _ENDS_SENTENCE.search(shown)):
                yield ActorLine(shown, "model" if attempt == 0 else "regenerated", tactic, self.prompt_sha256, rejected,
                                seconds={"shown": shown_at, "line": time.perf_counter() - start})
                return
        text = self._fallback(examples, history, state, start=shown)
        if shown and not text.startswith(shown + " "):  # the started sentence trails off into the fallback line
            trail = "" if shown.endswith(("…", "...")) else " …" if shown[-1] in ",;:" else "…"
            text = f"{shown}{trail} {text}"
        yield text
        yield ActorLine(text, "fallback", tactic, self.prompt_sha256, rejected,
                        seconds={"shown": shown_at if shown_at is not None else time.perf_counter() - start,
                                 "line": time.perf_counter() - start})

    def steering(self, history: list[Utterance], changed: str, level: int,
                 rejected: list[tuple[str, list[str]]] = (), attempt: int = 0) -> dict:
        """Extra generation arguments for one draft: another seed and :attr:`retry_temperature`
        on a retry (a fixed seed would redraw the same line); with :attr:`steer` on a model that
        ``supports_avoid``, ``avoid`` (:meth:`avoided` plus the drafts already rejected),
        ``ban_words`` (the customer's own surname, :meth:`addresses_itself`),
        ``ban_openings`` (:data:`~actor.persona.guard.NARRATION_OPENINGS`: "The customer is …"
        narrates, and a shown first word "The" would lead into it;
        :data:`~actor.persona.guard.EMPLOYEE_OPENINGS`; :func:`said_openings` of every earlier
        line of either speaker and of the rejected drafts, the customer's own and the rejected
        drafts' by their first :data:`OWN_OPENING_WORDS` words: a short line is too short for
        ``avoid`` to catch, and a sentence that opens like an earlier one repeats or echoes it)
        and, from L2 on, more ``ban_words`` and ``ban_openings``
        (:data:`~actor.persona.guard.COOPERATIVE_WORDS`,
        :data:`~actor.persona.guard.COOPERATIVE_OPENINGS`,
        :data:`~actor.persona.guard.COOPERATIVE_FIRST_WORDS`: "Dank" is two tokens, which
        ``ban_words`` cannot forbid); from L3 on also
        :data:`~actor.persona.guard.SATISFIED_OPENINGS` ("Dat is goed.")."""
        vary: dict = {}
        seed = getattr(self.model, "seed", None)
        if attempt and isinstance(seed, int):
            vary["seed"] = seed + attempt
        if attempt and isinstance(getattr(self.model, "temperature", None), (int, float)):
            vary["temperature"] = max(self.model.temperature, self.retry_temperature)
        if self.steer and getattr(self.model, "supports_avoid", False):
            vary["avoid"] = self.avoided(history, changed) + [text for text, _ in rejected]
            vary["ban_openings"] = list(NARRATION_OPENINGS[self.lang]) + list(EMPLOYEE_OPENINGS[self.lang])
            employee = [u.text for u in history if u.speaker == "employee"]
            own = [u.text for u in history if u.speaker != "employee" and u.text != "…"] + [t for t, _ in rejected]
            said = said_openings(employee) + said_openings(own, OWN_OPENING_WORDS)
            vary["ban_openings"] += [o for o in dict.fromkeys(said) if o not in vary["ban_openings"]]
            # the customer's own surname: a small model addresses the customer by it ("…, Mr Whitfield.")
            vary["ban_words"] = [self.scenario.customer.name_forms(self.lang)[-1]]
            if level >= 2:
                vary["ban_words"] += list(COOPERATIVE_WORDS[self.lang])
                vary["ban_openings"] += list(COOPERATIVE_OPENINGS[self.lang])
                vary["ban_openings"] += [w.capitalize() for w in COOPERATIVE_FIRST_WORDS[self.lang]]
            if level >= 3:
                vary["ban_openings"] += list(SATISFIED_OPENINGS[self.lang])
        return vary

    def avoided(self, history: list[Utterance], changed: str) -> list[str]:
        """Texts whose word runs a draft must not reproduce (for models that accept ``avoid``):
        every earlier line of either speaker, the prompt's headings and the stage direction."""
        headings = [line.split("{")[0].strip() for line in self._prompt.user.splitlines() if line.split("{")[0].strip()]
        return [u.text for u in history if u.text != "…"] + headings + [changed]

    def _raw_drafts(self, messages: list, **sampling) -> Iterator[str]:
        """One draft for ``messages``, as the raw text so far after each streamed chunk (a fresh
        draft without a leading speaker label of the customer's own, :meth:`unlabelled`; nothing
        while its start may still become one, :meth:`may_be_label`). Generation stops at a second line or past :data:`MAX_WORDS` + 5 words (the draft is
        decided then) and when the caller stops iterating (the model is released at once).
        Raises :class:`DraftError` (with the text so far) when the model call fails."""
        raw = ""
        begun = sampling.get("continue_from") or ""  # a continued answer: its start counts too
        chunks = self.model.stream(messages, stop=self.STOP, **{**self.sampling, **sampling})
        try:
            for chunk in chunks:
                raw += chunk.text
                if begun:
                    yield raw
                elif not self.may_be_label(raw):
                    yield self.unlabelled(raw)  # "Smit: Dat is niet waar." is spoken as "Dat is niet waar."
                if "\n" in (begun + raw).strip() or len(raw.split()) > MAX_WORDS + 5:
                    break  # a second line or an over-long draft: it is decided already
        except Exception as exc:
            raise DraftError(raw) from exc
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()  # releases the model at once when we stop early

    def draft(self, messages: list, **sampling) -> str:
        """One whole raw draft for ``messages`` (see :meth:`_raw_drafts`). Raises
        :class:`DraftError` when the model call fails."""
        raw = ""
        for raw in self._raw_drafts(messages, **sampling):
            pass
        return raw

    def closing_lines(self, state: PersonaState) -> list[str]:
        """The prompt file's closing lines for an ended scenario: ``closing.resolved`` when it
        resolved, else ``closing.ended``."""
        closing = self._prompt.closing
        return list(closing.resolved if state.outcome == "resolved" else closing.ended)

    def _fallback(self, examples: list[str], history: list[Utterance], state: PersonaState, start: str = "") -> str:
        """The first candidate that passes :meth:`check`: after a role-reversal attempt the prompt's
        in-character lines first, otherwise the playbook lines first; with ``start`` (the words
        already shown), the candidates that begin with them before the others (the line then
        goes on from what is shown instead of trailing off: not "Ik… Ik ken een journalist");
        when none passes, the candidate least like anything said before (never empty)."""
        stay = list(self._prompt.stay_in_role)
        last = next((u.text for u in reversed(history) if u.speaker == "employee"), "")
        if state.ended:
            groups = [self.closing_lines(state)]
        elif last and asks_role_reversal(last):
            groups = [stay, examples]
        else:
            groups = [examples, stay]
        if start:  # within each group, the lines that begin with the shown words first (sorting is stable)
            groups = [sorted(g, key=lambda t: not t.startswith(start + " ")) for g in groups]
        candidates = [text for g in groups for text in g]
        for text in candidates:
            if not self.check(text, text, history, 0 if state.outcome == "resolved" else state.level):
                return text
        said = [u.text.lower() for u in history]
        return min(candidates, key=lambda t: max((SequenceMatcher(None, t.lower(), x).ratio() for x in said), default=0.0))
