"""One rehearsal, end to end: follow a trainee turn through :meth:`Session.turn`.

::

    trainee text ─▶ Session.turn()
       ├─ grader.grade(...)        rubric + policy facts ─▶ TurnAssessment
       ├─ next_state(...)          the move from the assessment drives the persona state
       └─ actor.reply(...)         tactic + playbook lines + transcript ─▶ guarded customer line

Everything lives on the session object (no module-level state). A failed model call never
loses the trainee's text: the grader degrades to rule-only verdicts and the actor to a
playbook line. Persistence is the caller's job (:meth:`Session.to_dict`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from actor.evaluator import GradeRequest, Grader, TurnAssessment
from actor.persona.actor import Actor, ActorLine, Utterance
from actor.persona.scenario import Scenario
from actor.persona.state import PersonaState, initial_state, next_state

MAX_REPLY_CHARS = 1000  # a trainee reply longer than this is refused with a clear message


@dataclass
class Turn:
    """A completed turn: the customer's line, the trainee's reply, its grade, the state after,
    and the customer's answer (``None`` when the scenario ended). ``seconds``: wall time."""

    number: int
    customer_line: str
    reply: str
    assessment: TurnAssessment
    state_before: PersonaState
    state_after: PersonaState
    answer: ActorLine | None
    seconds: dict[str, float] = field(default_factory=dict)


class Session:
    """A rehearsal of ``scenario`` at ``difficulty`` in ``lang``.

    ``policy``: the scenario's policy facts for the grader (retrieved text); ``actor`` and
    ``grader`` are built by the caller from the configured models.
    """

    def __init__(self, scenario: Scenario, difficulty: str, lang: str, actor: Actor, grader: Grader,
                 policy: list[str] | None = None) -> None:
        if lang not in ("nl", "en"):
            raise ValueError(f"language must be 'nl' or 'en', got {lang!r}")
        self.scenario = scenario
        self.difficulty = scenario.difficulties[difficulty]
        self.difficulty_name = difficulty
        self.lang = lang
        self.actor = actor
        self.grader = grader
        self.policy = policy or []
        self.state = initial_state(self.difficulty)
        opening = actor.opening()
        self.history: list[Utterance] = [Utterance("customer", opening.text)]
        self.lines: list[ActorLine] = [opening]
        self.turns: list[Turn] = []

    @property
    def ended(self) -> bool:
        return self.state.ended

    def turn(self, reply: str) -> Turn:
        """Grade ``reply``, update the persona, and get the customer's answer.

        Raises ``ValueError`` for an empty or over-long reply (nothing is changed) and when the
        scenario has already ended.
        """
        text = reply.strip()
        if not text:
            raise ValueError("empty reply: type what you would say to the customer")
        if len(text) > MAX_REPLY_CHARS:
            raise ValueError(f"reply too long ({len(text)} characters; at most {MAX_REPLY_CHARS}): say it shorter, as you would out loud")
        if self.ended:
            raise ValueError("the conversation has ended")
        seconds: dict[str, float] = {}
        customer_line = self.history[-1].text
        start = time.perf_counter()
        assessment = self.grader.grade(GradeRequest(
            lang=self.lang, customer_line=customer_line, reply=text, level=self.state.level,
            aggression_type=self.state.aggression_type, scenario=self.scenario.title(self.lang), policy=self.policy,
        ))
        seconds["grade"] = time.perf_counter() - start
        before = self.state
        self.state = next_state(self.state, assessment.move, self.difficulty)
        self.history.append(Utterance("employee", text))
        answer = None
        if not self.state.ended:
            start = time.perf_counter()
            answer = self.actor.reply(self.history, self.state)
            seconds["actor"] = time.perf_counter() - start
            self.history.append(Utterance("customer", answer.text))
            self.lines.append(answer)
        turn = Turn(len(self.turns) + 1, customer_line, text, assessment, before, self.state, answer, seconds)
        self.turns.append(turn)
        return turn

    def to_dict(self) -> dict:
        """The whole session as JSON-ready data (transcript, grades, states, paths, hashes)."""
        return {
            "scenario": self.scenario.id,
            "scenario_sha256": self.scenario.sha256,
            "difficulty": self.difficulty_name,
            "lang": self.lang,
            "opening": asdict(self.lines[0]),
            "turns": [
                {
                    "number": t.number,
                    "customer_line": t.customer_line,
                    "reply": t.reply,
                    "assessment": t.assessment.model_dump(),
                    "state_before": asdict(t.state_before),
                    "state_after": asdict(t.state_after),
                    "answer": asdict(t.answer) if t.answer else None,
                    "seconds": t.seconds,
                }
                for t in self.turns
            ],
            "outcome": self.state.outcome,
            "final_level": self.state.level,
        }


def open_session(settings, scenario_id: str, difficulty: str, lang: str) -> Session:
    """A session on the configured models and course material (ingests a stale store first).

    Raises ``KeyError`` for an unknown scenario or difficulty, ``ValueError`` for a bad language.
    """
    from actor.embeddings import E5Embeddings
    from actor.knowledge import CourseRetriever, ingest, is_stale
    from actor.llm import chat_model, model_id
    from actor.persona.scenario import load_scenarios

    scenarios = load_scenarios()
    if scenario_id not in scenarios:
        raise KeyError(f"unknown scenario {scenario_id!r}; choose from {', '.join(sorted(scenarios))}")
    scenario = scenarios[scenario_id]
    if difficulty not in scenario.difficulties:
        raise KeyError(f"unknown difficulty {difficulty!r}; choose easy, medium or hard")
    embeddings = E5Embeddings()
    if is_stale(settings, embeddings):
        ingest(settings, embeddings, progress=False)
    retriever = CourseRetriever(settings, embeddings)
    policy = [h.text.split("\n\n", 1)[-1] for h in retriever.query(
        scenario.customer.wants(lang), k=2, lang=lang, kind="policy", scenario=scenario_id)]
    grader = Grader(chat_model("evaluator", settings), model_id("evaluator", settings))
    actor = Actor(chat_model("persona", settings), scenario, lang, retriever)
    return Session(scenario, difficulty, lang, actor, grader, policy)
