"""One rehearsal, end to end: follow a trainee turn through :meth:`Session.respond`.

::

    trainee text ─▶ Session.respond()
       ├─ judge.judge(...)          wording rules + nearest examples ─▶ the trainee's move
       ├─ next_state(...)           the move drives the persona state (pure function)
       ├─ actor.stream(...)         tactic + playbook lines + transcript ─▶ guarded customer line,
       │                            streamed to the caller as it is generated
       └─ Session.grade(turn)       afterwards: the full per-criterion assessment (rubric +
                                    policy facts ─▶ TurnAssessment); it does not hold up the
                                    customer's first token

Everything lives on the session object (no module-level state). A failed model call never
loses the trainee's text: the move judgement degrades to ``neutral``, the grader to rule-only
verdicts and the actor to a playbook line. Persistence is the caller's job
(:func:`turn_record` / :func:`turn_from_record`, :meth:`Session.to_dict`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Iterator

from actor.evaluator import GradeRequest, Grader, MoveJudge, MoveJudgement, TurnAssessment
from actor.persona.actor import Actor, ActorLine, Utterance
from actor.persona.scenario import Scenario
from actor.persona.state import PersonaState, initial_state, next_state

MAX_REPLY_CHARS = 1000  # a trainee reply longer than this is refused with a clear message


@dataclass
class Turn:
    """A completed turn: the customer's line, the trainee's reply, the move judgement, the state
    before and after, and the customer's answer (``None`` when the scenario ended).

    ``assessment`` is ``None`` until :meth:`Session.grade` has run; ``seconds``: wall times of
    the parts (``move``, ``first_token``, ``actor``, ``grade``).
    """

    number: int
    customer_line: str
    reply: str
    move: MoveJudgement
    state_before: PersonaState
    state_after: PersonaState
    answer: ActorLine | None
    assessment: TurnAssessment | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def turn_record(turn: Turn) -> dict:
    """``turn`` as JSON-ready data (the inverse of :func:`turn_from_record`)."""
    return {
        "number": turn.number,
        "customer_line": turn.customer_line,
        "reply": turn.reply,
        "move": asdict(turn.move),
        "state_before": asdict(turn.state_before),
        "state_after": asdict(turn.state_after),
        "answer": asdict(turn.answer) if turn.answer else None,
        "assessment": turn.assessment.model_dump() if turn.assessment else None,
        "seconds": turn.seconds,
    }


def line_from_record(data: dict) -> ActorLine:
    """An :class:`ActorLine` from ``asdict`` data (JSON turns tuples into lists)."""
    return ActorLine(**{**data, "rejected": [(text, list(reasons)) for text, reasons in data.get("rejected", [])]})


def turn_from_record(data: dict) -> Turn:
    """A :class:`Turn` from :func:`turn_record` data. Raises ``TypeError``/``ValueError`` on bad data."""
    return Turn(
        number=data["number"], customer_line=data["customer_line"], reply=data["reply"],
        move=MoveJudgement(**data["move"]),
        state_before=PersonaState(**data["state_before"]), state_after=PersonaState(**data["state_after"]),
        answer=line_from_record(data["answer"]) if data.get("answer") else None,
        assessment=TurnAssessment.model_validate(data["assessment"]) if data.get("assessment") else None,
        seconds=dict(data.get("seconds") or {}),
    )


class Session:
    """A rehearsal of ``scenario`` at ``difficulty`` in ``lang``.

    ``policy``: the scenario's policy facts for the evaluator (retrieved text); ``policy_text``:
    the whole policy document, for the rule checks on promised amounts and times; ``actor``,
    ``grader`` and ``judge`` are built by the caller from the configured models. Without a
    ``judge`` the move comes from the full grade, which then runs before the customer answers
    (slower; kept for evaluations that compare the two). ``opening`` and ``turns`` restore a
    stored session (the state continues from the last turn).
    """

    def __init__(self, scenario: Scenario, difficulty: str, lang: str, actor: Actor, grader: Grader,
                 policy: list[str] | None = None, judge: MoveJudge | None = None, policy_text: str = "",
                 opening: ActorLine | None = None, turns: list[Turn] | None = None) -> None:
        if lang not in ("nl", "en"):
            raise ValueError(f"language must be 'nl' or 'en', got {lang!r}")
        self.scenario = scenario
        self.difficulty = scenario.difficulties[difficulty]
        self.difficulty_name = difficulty
        self.lang = lang
        self.actor = actor
        self.grader = grader
        self.judge = judge
        self.policy = policy or []
        self.policy_text = policy_text or " ".join(self.policy)
        self.opening = opening or actor.opening()
        self.turns: list[Turn] = []
        self.rewind(0)
        for t in turns or []:
            self._append(t)

    def _append(self, turn: Turn) -> None:
        self.turns.append(turn)
        self.history.append(Utterance("employee", turn.reply))
        if turn.answer:
            self.history.append(Utterance("customer", turn.answer.text))
        self.state = turn.state_after

    def rewind(self, keep: int) -> list[Turn]:
        """Keep the first ``keep`` turns (retry from turn ``keep + 1``) and return the dropped
        ones; the caller keeps them as the old branch. Raises ``ValueError`` for a bad count."""
        if not 0 <= keep <= len(self.turns):
            raise ValueError(f"cannot keep {keep} of {len(self.turns)} turns")
        kept, dropped = self.turns[:keep], self.turns[keep:]
        self.turns, self.history = [], [Utterance("customer", self.opening.text)]
        self.state = initial_state(self.difficulty)
        for t in kept:
            self._append(t)
        return dropped

    @property
    def ended(self) -> bool:
        return self.state.ended

    def grade_request(self, turn: Turn) -> GradeRequest:
        """What the evaluator gets for ``turn`` (the state the customer was in when they spoke)."""
        return GradeRequest(
            lang=self.lang, customer_line=turn.customer_line, reply=turn.reply, level=turn.state_before.level,
            aggression_type=turn.state_before.aggression_type, scenario=self.scenario.title(self.lang), policy=self.policy,
            policy_text=self.policy_text,
        )

    def check_reply(self, reply: str) -> str:
        """The reply stripped. Raises ``ValueError`` with a message for the trainee for an empty or
        over-long reply (more than :data:`MAX_REPLY_CHARS` characters) or an ended scenario."""
        text = reply.strip()
        if not text:
            raise ValueError("empty reply: type what you would say to the customer")
        if len(text) > MAX_REPLY_CHARS:
            raise ValueError(f"reply too long ({len(text)} characters; at most {MAX_REPLY_CHARS}): say it shorter, as you would out loud")
        if self.ended:
            raise ValueError("the conversation has ended")
        return text

    def respond(self, reply: str) -> Iterator[str | Turn]:
        """Answer the trainee's ``reply``: yields the customer's line as it is generated (the text
        so far), then the completed, not yet graded :class:`Turn` (already part of the session).

        Raises ``ValueError`` (before anything changes) as :meth:`check_reply` does.
        """
        text = self.check_reply(reply)
        start = time.perf_counter()
        customer_line = self.history[-1].text
        pending = Turn(len(self.turns) + 1, customer_line, text, MoveJudgement("neutral", "", "fallback", ""), self.state, self.state, None)
        if self.judge is not None:
            pending.move = self.judge.judge(self.grade_request(pending))
            pending.seconds["move"] = pending.move.seconds
        else:
            self.grade(pending)
            pending.move = MoveJudgement(pending.assessment.move, "derived from the verdicts", "model", pending.assessment.prompt_sha256)
        pending.state_after = next_state(self.state, pending.move.move, self.difficulty)
        if not pending.state_after.ended:
            history = self.history + [Utterance("employee", text)]
            actor_start = time.perf_counter()
            for item in self.actor.stream(history, pending.state_after):
                if isinstance(item, ActorLine):
                    pending.answer = item
                else:
                    pending.seconds.setdefault("first_token", time.perf_counter() - start)
                    yield item
            pending.seconds["actor"] = time.perf_counter() - actor_start
        pending.seconds["turn"] = time.perf_counter() - start
        self._append(pending)
        yield pending

    def grade(self, turn: Turn) -> TurnAssessment:
        """The full per-criterion assessment of ``turn`` (stored on it). Never raises for model
        trouble (see :meth:`Grader.grade`)."""
        turn.assessment = self.grader.grade(self.grade_request(turn))
        turn.seconds["grade"] = turn.assessment.seconds
        return turn.assessment

    def turn(self, reply: str, grade: bool = True) -> Turn:
        """:meth:`respond` to the end, then :meth:`grade` (unless ``grade=False``)."""
        turn = None
        for item in self.respond(reply):
            turn = item
        assert isinstance(turn, Turn)
        if grade and turn.assessment is None:
            self.grade(turn)
        return turn

    def to_dict(self) -> dict:
        """The whole session as JSON-ready data (transcript, grades, states, paths, hashes)."""
        return {
            "scenario": self.scenario.id,
            "scenario_sha256": self.scenario.sha256,
            "difficulty": self.difficulty_name,
            "lang": self.lang,
            "opening": asdict(self.opening),
            "turns": [turn_record(t) for t in self.turns],
            "outcome": self.state.outcome,
            "final_level": self.state.level,
        }


class Workbench:
    """What sessions share in one process: the scenarios, the retriever and the models.

    Build it with :meth:`from_settings` (ingests stale course material once, loads the
    embedding model); :meth:`new_session` then costs no model load or index build. Sessions
    themselves share nothing. ``judge``: the move judgement (stateless, shared);
    ``evaluator_id``: stored with every assessment.
    """

    def __init__(self, scenarios: dict[str, Scenario], retriever, persona_model, evaluator_model, judge: MoveJudge,
                 evaluator_id: str) -> None:
        self.scenarios = scenarios
        self.retriever = retriever
        self.persona_model = persona_model
        self.evaluator_model = evaluator_model
        self.judge = judge
        self.evaluator_id = evaluator_id

    @classmethod
    def from_settings(cls, settings) -> "Workbench":
        """The configured models and course material. Raises what :func:`~actor.llm.chat_model`
        and the knowledge store raise (invalid course files, model file problems)."""
        from actor.embeddings import E5Embeddings
        from actor.knowledge import CourseRetriever, ingest, is_stale
        from actor.llm import chat_model, model_id
        from actor.persona.scenario import load_scenarios

        embeddings = E5Embeddings()
        if is_stale(settings, embeddings):
            ingest(settings, embeddings, progress=False)
        return cls(
            load_scenarios(), CourseRetriever(settings, embeddings), chat_model("persona", settings),
            chat_model("evaluator", settings), MoveJudge(embeddings), model_id("evaluator", settings),
        )

    def warm_up(self) -> float:
        """Load both model contexts and run one token through each, so the first trainee does
        not wait for a model load (~2–4 s per context on 2 cores). Returns the seconds taken;
        failures are left to the first real call, which degrades as usual."""
        start = time.perf_counter()
        for model in (self.persona_model, self.evaluator_model):
            try:
                model.invoke("Hallo.", max_tokens=1)
            except Exception:
                pass
        return time.perf_counter() - start

    def scenario(self, scenario_id: str, difficulty: str) -> Scenario:
        """Raises ``KeyError`` for an unknown scenario or difficulty."""
        if scenario_id not in self.scenarios:
            raise KeyError(f"unknown scenario {scenario_id!r}; choose from {', '.join(sorted(self.scenarios))}")
        scenario = self.scenarios[scenario_id]
        if difficulty not in scenario.difficulties:
            raise KeyError(f"unknown difficulty {difficulty!r}; choose easy, medium or hard")
        return scenario

    def policy(self, scenario: Scenario, lang: str) -> list[str]:
        """The scenario's policy facts in ``lang`` (two retrieved policy chunks, text only)."""
        hits = self.retriever.query(scenario.customer.wants(lang), k=2, lang=lang, kind="policy", scenario=scenario.id)
        return [h.text.split("\n\n", 1)[-1] for h in hits]

    def policy_document(self, scenario: Scenario, lang: str) -> str:
        """The scenario's whole policy document in ``lang`` (all its chunks), for the rule checks."""
        hits = self.retriever.query(scenario.id, k=20, per_document=None, lang=lang, kind="policy", scenario=scenario.id)
        return "\n".join(h.text for h in hits)

    def new_session(self, scenario_id: str, difficulty: str, lang: str, policy: list[str] | None = None,
                    opening: ActorLine | None = None, turns: list[Turn] | None = None, before_grading_call=None,
                    scenario: Scenario | None = None, grading_yield_to=None) -> Session:
        """A new session, or a stored one when ``opening``/``turns``/``policy`` are given.
        ``before_grading_call`` / ``grading_yield_to``: see :class:`~actor.evaluator.Grader`
        ``before_call`` / ``yield_to``;
        ``scenario``: a version of the scenario to use instead of the saved one (trying an edit).

        Raises ``KeyError`` for an unknown scenario or difficulty, ``ValueError`` for a bad language.
        """
        scenario = scenario or self.scenario(scenario_id, difficulty)
        if lang not in ("nl", "en"):
            raise ValueError(f"language must be 'nl' or 'en', got {lang!r}")
        grader = Grader(self.evaluator_model, self.evaluator_id, before_call=before_grading_call, yield_to=grading_yield_to)
        actor = Actor(self.persona_model, scenario, lang, self.retriever)
        return Session(scenario, difficulty, lang, actor, grader, self.policy(scenario, lang) if policy is None else policy,
                       self.judge, self.policy_document(scenario, lang), opening, turns)


def open_session(settings, scenario_id: str, difficulty: str, lang: str) -> Session:
    """A session on the configured models and course material (ingests a stale store first).

    Raises ``KeyError`` for an unknown scenario or difficulty, ``ValueError`` for a bad language.
    """
    return Workbench.from_settings(settings).new_session(scenario_id, difficulty, lang)
