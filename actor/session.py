"""One rehearsal, end to end: follow a trainee turn through :meth:`Session.respond`.

::

    trainee text ─▶ Session.respond()
       ├─ judge.verdicts(...)       rules + e5 embeddings + fitted heads ─▶ verdicts, p(pass),
       │                            tone and the move (actor.judgement; milliseconds, no chat model)
       ├─ next_state(...)           the move drives the persona state (pure function)
       ├─ actor.stream(...)         tactic + playbook lines + transcript ─▶ guarded customer line,
       │                            streamed to the caller as it is generated
       └─ Session.grade(turn)       afterwards: the reasons from the rubric about the reply's own
                                    words, and a better phrasing from the chat model in the
                                    session's language; the verdicts do not change

Everything lives on the session object (no module-level state): its turns are a list of
:class:`~actor.record.TurnRecord`, and the transcript (:attr:`Session.history`) and the persona
state (:attr:`Session.state`) are derived from them. A failed model call never loses the
trainee's text: without embeddings or heads the verdicts come from the rule checks, the words
from the rubric, and the actor answers with a playbook line. Persistence is the caller's job
(the records as they are, :meth:`Session.to_dict`).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Iterator

from actor.evaluator import GradeRequest, TurnAssessment
from actor.persona.actor import Actor, ActorLine, Utterance
from actor.persona.scenario import Scenario
from actor.persona.state import PersonaState, initial_state, next_state
from actor.record import TurnRecord
from actor.refusals import Refusal

MAX_REPLY_CHARS = 1000  # a trainee reply longer than this is refused with a clear message


class Session:
    """A rehearsal of ``scenario`` at ``difficulty`` in ``lang``.

    ``judge``: the shared :class:`~actor.judgement.judge.Judge` (verdicts and move);
    ``writer``: the :class:`~actor.judgement.wording.Writer` that words the feedback (``None``:
    the rubric's text); ``policy``: the scenario's policy facts (retrieved text);
    ``policy_text``: the whole policy document, for the rule checks on promised amounts and
    times. ``opening`` and ``turns`` restore a stored session (the state continues from the
    last turn).

    ``turns`` is the one list of the session's :class:`~actor.record.TurnRecord`; ``history``
    and ``state`` are computed from it (and the opening) on every read.
    """

    def __init__(self, scenario: Scenario, difficulty: str, lang: str, actor: Actor, judge,
                 policy: list[str] | None = None, writer=None, policy_text: str = "",
                 opening: ActorLine | None = None, turns: list[TurnRecord] | None = None) -> None:
        if lang not in ("nl", "en"):
            raise ValueError(f"language must be 'nl' or 'en', got {lang!r}")
        self.scenario = scenario
        self._writer_prefilled = False
        self.difficulty = scenario.difficulties[difficulty]
        self.difficulty_name = difficulty
        self.lang = lang
        self.actor = actor
        self.judge = judge
        self.writer = writer
        self.policy = policy or []
        self.policy_text = policy_text or " ".join(self.policy)
        self.opening = opening or actor.opening()
        self.turns: list[TurnRecord] = list(turns or [])

    @property
    def history(self) -> list[Utterance]:
        """The transcript so far (a new list): the opening line, then per turn the reply and the
        customer's answer (when there is one)."""
        lines = [Utterance("customer", self.opening.text)]
        for t in self.turns:
            lines.append(Utterance("employee", t.reply))
            if t.answer:
                lines.append(Utterance("customer", t.answer.text))
        return lines

    @property
    def state(self) -> PersonaState:
        """The persona state after the last turn (the difficulty's initial state before any)."""
        return self.turns[-1].state_after if self.turns else initial_state(self.difficulty)

    def rewind(self, keep: int) -> list[TurnRecord]:
        """Keep the first ``keep`` turns (retry from turn ``keep + 1``) and return the dropped
        ones; the caller keeps them as the old branch. Raises ``ValueError`` for a bad count."""
        if not 0 <= keep <= len(self.turns):
            raise ValueError(f"cannot keep {keep} of {len(self.turns)} turns")
        self.turns, dropped = self.turns[:keep], self.turns[keep:]
        return dropped

    @property
    def ended(self) -> bool:
        """Whether the persona state after the last turn has an outcome."""
        return self.state.ended

    def grade_request(self, turn: TurnRecord) -> GradeRequest:
        """What the judgement gets for ``turn``: the customer's line with the level, aggression
        type and tactic they spoke it with, the reply, the scenario and its policy."""
        previous = self.opening if turn.number == 1 else self.turns[turn.number - 2].answer
        return GradeRequest(
            lang=self.lang, customer_line=turn.customer_line, reply=turn.reply, level=turn.state_before.level,
            aggression_type=turn.state_before.aggression_type, tactic=previous.tactic if previous else None,
            scenario=self.scenario.title(self.lang), policy=self.policy, policy_text=self.policy_text,
            scenario_id=self.scenario.id,
        )

    def check_reply(self, reply: str) -> str:
        """The reply stripped. Raises :class:`~actor.refusals.Refusal` (a ``ValueError``) for an
        ended scenario (``conversation_ended``), an empty reply (``empty_reply``) or one of more
        than :data:`MAX_REPLY_CHARS` characters (``reply_too_long``)."""
        if self.ended:
            raise Refusal("conversation_ended", status="ended")
        text = reply.strip()
        if not text:
            raise Refusal("empty_reply")
        if len(text) > MAX_REPLY_CHARS:
            raise Refusal("reply_too_long", length=len(text), limit=MAX_REPLY_CHARS)
        return text

    def respond(self, reply: str) -> Iterator[str | TurnRecord]:
        """Answer the trainee's ``reply``: yields the customer's line as it is generated (the text
        so far), then the completed :class:`~actor.record.TurnRecord` with its verdicts, move and
        the reasons of failed criteria, its better phrasing not yet written (already part of the
        session, ``id`` still ``None``).

        Raises ``ValueError`` (before anything changes) as :meth:`check_reply` does.
        """
        text = self.check_reply(reply)
        start = time.perf_counter()
        history = self.history
        pending = TurnRecord(number=len(self.turns) + 1, customer_line=history[-1].text, reply=text,
                             state_before=self.state, state_after=self.state)
        pending.assessment = self.judge.verdicts(self.grade_request(pending))  # verdicts and the move
        pending.seconds["move"] = pending.assessment.seconds
        verdicts = pending.assessment.verdicts()
        signals = self.actor.signals(  # the reply names a step only if takes_control did not fail
            text, pending.move, next_step=False if verdicts.get("takes_control") == "fail" else None,
            within_policy=None if verdicts.get("no_false_promises") in (None, "n/a") else verdicts["no_false_promises"] == "pass")
        pending.state_after = next_state(self.state, signals, self.difficulty)
        # the customer always answers; when the scenario has just ended, with a closing line
        history.append(Utterance("employee", text))
        actor_start = time.perf_counter()
        for item in self.actor.stream(history, pending.state_after, before=self.state):
            if isinstance(item, ActorLine):
                pending.answer = item
            else:
                pending.seconds.setdefault("first_token", time.perf_counter() - start)
                yield item
        pending.seconds["actor"] = time.perf_counter() - actor_start
        # the reasons need no model: they are shown with the verdicts, the better phrasing follows
        pending.assessment = self.judge.reasons(self.grade_request(pending), pending.assessment, avoid=self.tips_given())
        pending.seconds["turn"] = time.perf_counter() - start
        self.turns.append(pending)
        yield pending

    def prefill(self) -> None:
        """Evaluate the known start of the customer's next prompt (transcript and examples) while
        the trainee reads and types; see :meth:`~actor.persona.actor.Actor.prefill`."""
        if not self.ended:
            self.actor.prefill(self.history, self.state)

    def tips_given(self) -> list[str]:
        """The tips of the turns so far (a worked example is not given twice in a session; a turn
        still being worded has no tip yet)."""
        return [t.assessment.tip for t in self.turns if t.assessment is not None and t.assessment.tip]

    def prefill_wording(self) -> None:
        """Background work once per session, run where the wording runs: embed the bank's worked
        examples for this scenario (:meth:`~actor.judgement.judge.Judge.prepare`) and, when the
        scenario has none, evaluate the fixed start of the wording prompt
        (:meth:`~actor.judgement.wording.Writer.prefill`), so the first reply's feedback does
        not evaluate it in full."""
        if self._writer_prefilled:
            return
        self._writer_prefilled = True
        prepare = getattr(self.judge, "prepare", None)
        if prepare is not None:
            prepare(self.scenario.id, self.lang)
        tips = getattr(self.judge, "tips", None)
        if self.writer is not None and not (tips is not None and tips.covers(self.scenario.id, self.lang)):
            self.writer.prefill(self.lang, self.scenario.title(self.lang), self.policy)

    def grade(self, turn: TurnRecord, avoid: list[str] | None = None, request: GradeRequest | None = None) -> TurnAssessment:
        """``turn``'s assessment with the feedback worded (returned, and set on ``turn``, which
        may be a private copy of one of the session's records). The verdicts stay as judged.
        ``avoid``: the tips already given (default :meth:`tips_given`); ``request``: the turn's
        :meth:`grade_request` (default: read now). Another thread passes both, read on the
        session's thread. Never raises for model trouble (the rubric's text is used)."""
        req = request or self.grade_request(turn)
        start = time.perf_counter()
        assessment = self.judge.word(req, turn.assessment or self.judge.verdicts(req), writer=self.writer,
                                     avoid=self.tips_given() if avoid is None else avoid)
        turn.seconds["wording"] = time.perf_counter() - start
        turn.assessment = assessment
        return assessment

    def turn(self, reply: str, grade: bool = True) -> TurnRecord:
        """:meth:`respond` to the end, then :meth:`grade` (unless ``grade=False``). Raises as
        :meth:`respond` does."""
        turn = None
        for item in self.respond(reply):
            turn = item
        assert isinstance(turn, TurnRecord)
        if grade and turn.needs_wording:
            self.grade(turn)
        return turn

    def to_dict(self) -> dict:
        """The whole session as JSON-ready data (transcript, grades, states, paths, hashes):
        ``scenario``, ``scenario_sha256``, ``difficulty``, ``lang``, ``opening``, ``turns``
        (each ``TurnRecord.model_dump(mode="json")``, ``move`` the move's name), ``outcome``,
        ``final_level``."""
        return {
            "scenario": self.scenario.id,
            "scenario_sha256": self.scenario.sha256,
            "difficulty": self.difficulty_name,
            "lang": self.lang,
            "opening": asdict(self.opening),
            "turns": [t.model_dump(mode="json") for t in self.turns],
            "outcome": self.state.outcome,
            "final_level": self.state.level,
        }


class Workbench:
    """What sessions share in one process: the scenarios, the retriever and the models.

    Build it with :meth:`from_settings` (ingests stale course material once, loads the
    embedding model and the fitted judgement heads); :meth:`new_session` then costs no model load
    or index build. Sessions themselves share nothing. ``judge``: the judgement (stateless,
    shared); ``evaluator_id``: stored with every assessment; ``problems``: start-up lines for
    the log (e.g. missing heads, with the command that rebuilds them).
    """

    def __init__(self, scenarios: dict[str, Scenario], retriever, persona_model, evaluator_model, judge,
                 evaluator_id: str, problems: list[str] | None = None) -> None:
        self.scenarios = scenarios
        self.retriever = retriever
        self.persona_model = persona_model
        self.evaluator_model = evaluator_model
        self.judge = judge
        self.evaluator_id = evaluator_id
        self.problems = problems or []

    @classmethod
    def from_settings(cls, settings) -> "Workbench":
        """The configured models and course material. Raises what :func:`~actor.llm.chat_model`
        and the knowledge store raise (invalid course files, model file problems)."""
        import logging

        from actor.embeddings import E5Embeddings
        from actor.judgement.bank import load_bank
        from actor.judgement.judge import Judge, load_heads
        from actor.judgement.tips import BankTips
        from actor.judgement.learn import heads_path
        from actor.knowledge import CourseRetriever, ingest, is_stale
        from actor.llm import chat_model, model_id
        from actor.persona.scenario import load_scenarios

        embeddings = E5Embeddings()
        if is_stale(settings, embeddings):
            ingest(settings, embeddings, progress=False)
        heads, problem = load_heads(heads_path(settings))
        tips = None
        try:  # the bank's worked examples (a checkout of the repository has them; a wheel does not)
            tips = BankTips(load_bank()[0])
        except (FileNotFoundError, ValueError) as exc:
            logging.getLogger("actor").info("no worked examples for the feedback: %s", exc)
        if problem:
            logging.getLogger("actor").warning(problem)
        evaluator_id = model_id("evaluator", settings)
        return cls(
            load_scenarios(), CourseRetriever(settings, embeddings), chat_model("persona", settings),
            chat_model("evaluator", settings), Judge(embeddings, heads, model_id=evaluator_id, tips=tips), evaluator_id,
            [problem] if problem else [],
        )

    def reload_prompts(self) -> None:
        """Pick up edited prompt files (the one reload path, called after a trainer's save):
        empties the loader's cache (:func:`actor.prompt_files.reload`), re-reads the scenarios
        and gives the judge the rubric on disk. Sessions started afterwards use the new files
        (the customer's prompt, the feedback and debrief prompts); the rubric applies to every
        turn judged from now on. Raises what the loader raises for a file that no longer
        validates (nothing is replaced then)."""
        from actor import prompt_files
        from actor.evaluator.rubric import default_rubric
        from actor.persona.scenario import load_scenarios

        prompt_files.reload()
        scenarios, rubric = load_scenarios(), default_rubric()
        self.scenarios = scenarios
        if hasattr(self.judge, "use_rubric"):
            self.judge.use_rubric(rubric)

    def warm_up(self) -> float:
        """Load both model contexts and run one token through each, so the first trainee does
        not wait for a model load (~2–4 s per context on 2 cores), and embed the bank's worked
        examples (:meth:`~actor.judgement.judge.Judge.prepare`). Returns the seconds taken;
        failures are left to the first real call, which degrades as usual."""
        start = time.perf_counter()
        for model in (self.persona_model, self.evaluator_model):
            try:
                model.invoke("Hallo.", max_tokens=1)
            except Exception:
                pass
        prepare = getattr(self.judge, "prepare", None)
        if prepare is not None:  # the bank's worked examples (a few seconds of embeddings)
            prepare()
        loaded = getattr(self.persona_model, "loaded", None)
        if loaded is not None:  # which tokens start a word (for continuing a shown answer; ~1 s)
            try:
                loaded().word_start_mask()
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
                    opening: ActorLine | None = None, turns: list[TurnRecord] | None = None, before_grading_call=None,
                    scenario: Scenario | None = None, grading_yield_to=None) -> Session:
        """A new session, or a stored one when ``opening``/``turns``/``policy`` are given.
        ``before_grading_call`` / ``grading_yield_to``: see :class:`~actor.judgement.wording.Writer`
        ``before_call`` / ``yield_to``;
        ``scenario``: a version of the scenario to use instead of the saved one (trying an edit).

        Raises ``KeyError`` for an unknown scenario or difficulty, ``ValueError`` for a bad language.
        """
        scenario = scenario or self.scenario(scenario_id, difficulty)
        if lang not in ("nl", "en"):
            raise ValueError(f"language must be 'nl' or 'en', got {lang!r}")
        from actor.judgement.wording import Writer

        writer = Writer(self.evaluator_model, before_call=before_grading_call, yield_to=grading_yield_to)
        actor = Actor(self.persona_model, scenario, lang, self.retriever)
        return Session(scenario, difficulty, lang, actor, self.judge, self.policy(scenario, lang) if policy is None else policy,
                       writer, self.policy_document(scenario, lang), opening, turns)


def open_session(settings, scenario_id: str, difficulty: str, lang: str) -> Session:
    """A session on the configured models and course material (ingests a stale store first).

    Raises ``KeyError`` for an unknown scenario or difficulty, ``ValueError`` for a bad language.
    """
    return Workbench.from_settings(settings).new_session(scenario_id, difficulty, lang)
