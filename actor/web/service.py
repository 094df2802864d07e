"""The rehearsal service: live sessions, their storage, and background grading.

The web app (and the load test) talk to one :class:`RehearsalService` per process. It keeps the
live :class:`~actor.session.Session` objects of this process in a dict keyed by session id (per
service instance, never at module level), stores every completed turn at once
(:class:`~actor.db.Database`), and restores a session from the database after a page reload or
a server restart.

What runs when, for one trainee reply (:meth:`RehearsalService.respond`)::

    verdicts and move (rules + embeddings + fitted heads) ─▶ persona state ─▶ customer line,
        streamed ─▶ turn stored with its verdicts ─▶ wording queued on a background worker
        ─▶ reasons and tip stored
        ─▶ the next prompt's known start evaluated into the KV cache while the trainee thinks

The grading worker waits while any customer line is being generated (:class:`ForegroundGate`),
and a grading call already running on the embedded model stops between tokens when a customer
line starts and is asked again afterwards (``yield_to``), so grading slows the customer's
first token at most by the rest of a prompt evaluation; the feedback panel shows the verdicts
when they arrive. A failed model call never loses the trainee's text:
the session layer degrades (rule-only verdicts, playbook line) and a reply refused for bad
input changes nothing.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Iterator

from actor.db import Database
from actor.evaluator import Debrief, TurnRecord, write_debrief
from actor.session import Session, Turn, Workbench, line_from_record, turn_from_record, turn_record
from actor.web.render import clean


class ForegroundGate:
    """Counts customer lines being generated; :meth:`wait_idle` blocks while any is (at most
    ``max_wait`` seconds, so a stuck stream never stalls grading for good)."""

    def __init__(self, max_wait: float = 60.0) -> None:
        self._active = 0
        self._cond = threading.Condition()
        self.max_wait = max_wait

    @contextmanager
    def active(self) -> Iterator[None]:
        with self._cond:
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def busy(self) -> bool:
        """Whether a customer line is being generated right now."""
        return self._active > 0

    def wait_idle(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._active == 0, timeout=self.max_wait)


@dataclass
class Live:
    """A session loaded in this process: the session, the database ids of its turns (parallel
    to ``session.turns``), a lock that serialises its turns, and pending gradings."""

    id: str
    session: Session
    turn_ids: list[int]
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: dict[int, Future] = field(default_factory=dict)


class SessionNotFound(KeyError):
    """No session with this id (or not visible to this user)."""


class RehearsalService:
    """Sessions on ``bench`` (models, retriever) stored in ``db``.

    ``grading_workers``: background threads that grade turns (1 on a 2-core laptop: grading
    calls queue behind each other instead of competing for the cores).
    """

    def __init__(self, bench: Workbench, db: Database, grading_workers: int = 1) -> None:
        self.bench = bench
        self.db = db
        self.gate = ForegroundGate()
        self._live: dict[str, Live] = {}
        self._live_lock = threading.Lock()
        self._grading = ThreadPoolExecutor(grading_workers, thread_name_prefix="grading")
        self._prefill = ThreadPoolExecutor(1, thread_name_prefix="prefill")

    # --- sessions -------------------------------------------------------------------------

    def start(self, scenario: str, difficulty: str, lang: str, mode: str = "practice", pass_mark: float | None = None,
              show_feedback: bool = True, owner: str | None = None) -> Live:
        """A new stored session. Raises ``KeyError`` for an unknown scenario or difficulty and
        ``ValueError`` for a bad language or mode."""
        if mode not in ("practice", "assessment"):
            raise ValueError(f"mode must be 'practice' or 'assessment', got {mode!r}")
        session = self.bench.new_session(scenario, difficulty, lang, before_grading_call=self.gate.wait_idle, grading_yield_to=self.gate.busy)
        sid = self.db.create_session(
            owner=owner, scenario=scenario, difficulty=difficulty, lang=lang, mode=mode, pass_mark=pass_mark,
            show_feedback=show_feedback and mode == "practice", status="active", opening=asdict(session.opening),
            policy=session.policy, prompt_sha256=session.actor.prompt_sha256, scenario_sha256=session.scenario.sha256,
        )
        live = Live(sid, session, [])
        with self._live_lock:
            self._live[sid] = live
        self._prefill.submit(session.actor.prefill, list(session.history))  # while the trainee reads the opening
        return live

    def get(self, session_id: str, owner: str | None = None) -> Live:
        """The live session ``session_id``, restored from the database when this process does not
        have it (after a restart). Turns stored without an assessment are queued for grading.
        Raises :class:`SessionNotFound` (also when ``owner`` is given and is not the owner)."""
        row = self.db.get_session(session_id) if session_id else None
        if row is None or (owner is not None and row.owner != owner):
            raise SessionNotFound(session_id)
        with self._live_lock:
            live = self._live.get(session_id)
            if live is None:
                rows = self.db.path(session_id)
                turns = [turn_from_record({**_row_record(r)}) for r in rows]
                session = self.bench.new_session(row.scenario, row.difficulty, row.lang, policy=row.policy,
                                                 opening=line_from_record(row.opening), turns=turns,
                                                 before_grading_call=self.gate.wait_idle, grading_yield_to=self.gate.busy)
                live = self._live[session_id] = Live(session_id, session, [r.id for r in rows])
                for turn, tid in zip(session.turns, live.turn_ids):
                    if turn.assessment is None or turn.assessment.wording == "pending":
                        self._queue_grading(live, turn, tid)
        return live

    def row(self, session_id: str):
        """The stored session row (status, mode, pass mark, reflection, debrief)."""
        return self.db.get_session(session_id)

    # --- one trainee turn -----------------------------------------------------------------

    def respond(self, session_id: str, reply: str) -> Iterator[str | Turn]:
        """Answer ``reply`` in session ``session_id``: yields the customer's text so far while it
        is generated, then the stored :class:`Turn` (its grading queued).

        Raises ``ValueError`` with a message for the trainee (empty, too long, ended, paused,
        another reply still being answered) before anything changes; :class:`SessionNotFound`.
        Control characters (NUL, escape sequences) are removed from ``reply`` first.
        """
        reply = clean(reply)
        live = self.get(session_id)
        row = self.row(session_id)
        if row.status != "active":
            raise ValueError(f"the conversation is {row.status}; resume it or start a new one")
        live.session.check_reply(reply)
        if not live.lock.acquire(blocking=False):
            raise ValueError("the customer is still answering your previous reply")
        try:
            with self.gate.active():
                turn = None
                for item in live.session.respond(reply):
                    if isinstance(item, Turn):
                        turn = item
                    else:
                        yield item
            record = turn_record(turn)
            tid = self.db.add_turn(
                session_id, live.turn_ids[-1] if live.turn_ids else None,
                customer_line=turn.customer_line, reply=turn.reply, move=turn.move.move, move_judgement=record["move"],
                state_before=record["state_before"], state_after=record["state_after"], answer=record["answer"],
                seconds=turn.seconds,
            )
            live.turn_ids.append(tid)
            if turn.assessment is not None:  # the verdicts exist already; the words follow
                self.db.set_assessment(tid, turn.assessment.model_dump())
            if live.session.ended:
                self.db.update_session(session_id, status="ended", outcome=live.session.state.outcome)
            else:  # while the trainee reads the line and thinks
                self._prefill.submit(live.session.actor.prefill, list(live.session.history))
            self._queue_grading(live, turn, tid)
        finally:
            live.lock.release()
        yield turn

    def _queue_grading(self, live: Live, turn: Turn, turn_id: int) -> None:
        def grade() -> None:
            assessment = live.session.grade(turn)
            self.db.set_assessment(turn_id, assessment.model_dump())

        live.pending[turn_id] = self._grading.submit(grade)

    def wait_for_grades(self, session_id: str, timeout: float | None = None) -> None:
        """Block until every queued grading of the session is stored."""
        live = self.get(session_id)
        for future in list(live.pending.values()):
            future.result(timeout=timeout)

    def grading_done(self, session_id: str) -> bool:
        live = self.get(session_id)
        return all(f.done() for f in live.pending.values())

    # --- control --------------------------------------------------------------------------

    def retry_from(self, session_id: str, number: int) -> None:
        """Answer turn ``number`` (1-based) again: the session goes back to the customer's line
        before it. The turns from ``number`` on stay stored as the earlier branch. Raises
        ``ValueError`` for a turn that does not exist."""
        live = self.get(session_id)
        with live.lock:
            if not 1 <= number <= len(live.session.turns):
                raise ValueError(f"there is no turn {number} to retry")
            live.session.rewind(number - 1)
            live.turn_ids = live.turn_ids[: number - 1]
            self.db.set_head(session_id, live.turn_ids[-1] if live.turn_ids else None)
            self.db.update_session(session_id, status="active", outcome=None, debrief=None, debrief_markdown=None)

    def set_status(self, session_id: str, status: str, reflection: str | None = None) -> None:
        """``active``, ``paused``, ``ended`` (the trainee ended it) or ``stopped`` (the stop
        button: ends at once); ``reflection``: the trainee's answer to the reflection question."""
        fields = {"status": status}
        if reflection is not None:
            fields["reflection"] = reflection
        self.get(session_id)
        self.db.update_session(session_id, **fields)

    def debrief(self, session_id: str, timeout: float | None = 600) -> Debrief:
        """The session's debrief (waits for pending grades; stored; written once per branch).
        Raises ``ValueError`` for a session without turns."""
        live = self.get(session_id)
        row = self.row(session_id)
        if row.debrief:
            return Debrief.model_validate(row.debrief)
        self.wait_for_grades(session_id, timeout)
        s = live.session
        records = [TurnRecord(t.number, t.customer_line, t.reply, t.assessment, t.state_after.level) for t in s.turns]
        debrief = write_debrief(records, s.lang, self.bench.evaluator_model, self.bench.evaluator_id)
        self.db.update_session(session_id, debrief=debrief.model_dump(), debrief_markdown=debrief.markdown)
        return debrief

    def close(self) -> None:
        self._grading.shutdown(wait=False, cancel_futures=True)
        self._prefill.shutdown(wait=False, cancel_futures=True)


def _row_record(row) -> dict:
    """A stored turn row as :func:`~actor.session.turn_record` data."""
    return {
        "number": row.number, "customer_line": row.customer_line, "reply": row.reply,
        "move": row.move_judgement or {"move": row.move, "reason": "", "source": "model", "prompt_sha256": ""},
        "state_before": row.state_before, "state_after": row.state_after, "answer": row.answer,
        "assessment": row.assessment, "seconds": row.seconds or {},
    }
