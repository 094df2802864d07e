"""The rehearsal service: live sessions, their storage, and background grading.

The web app (and the load test) talk to one :class:`RehearsalService` per process. It keeps the
live :class:`~actor.session.Session` objects of this process in a dict keyed by session id (per
service instance, never at module level), stores every completed turn at once
(:class:`~actor.db.Database`), and restores a session from the database after a page reload, a
server restart or an eviction: a live session unused for ``idle_seconds`` (default 30 minutes),
or the least recently used ones beyond ``max_live``, is dropped from memory (never while a turn
or a grading of it runs) and restored on its next request.

Every public method that acts on a session takes the requesting ``user`` (the logged-in name;
``None`` for nobody) and checks it itself: while the database has users (logins required), a
session is visible only to its owner (trainers and reviewers too see only their own sessions
here; they read others' sessions in the review workspace, which reads the database); without
users everyone sees every session. A session that is not visible raises :class:`SessionNotFound`,
exactly as one that does not exist.

A request refused for what it asks (an empty or over-long reply, a paused or ended session,
another reply still being answered, a turn that does not exist) raises
:class:`~actor.refusals.Refusal` with a code, before anything changes; the page translates
the code (:func:`actor.refusals.message`).

What runs when, for one trainee reply (:meth:`RehearsalService.respond`)::

    input checked (raises at call time) ─▶ verdicts and move (rules + embeddings + fitted
        heads) ─▶ persona state ─▶ customer line, streamed ─▶ turn stored with its verdicts
        ─▶ wording queued on a background worker ─▶ reasons and tip stored, then handed to
        readers under the live session's view lock
        ─▶ the next prompt's known start evaluated into the KV cache while the trainee thinks

The grading worker waits while any customer line is being generated (:class:`ForegroundGate`),
and a grading call already running on the embedded model stops between tokens when a customer
line starts and is asked again afterwards (``yield_to``), so grading slows the customer's
first token at most by the rest of a prompt evaluation; the feedback panel shows the verdicts
when they arrive. The grading thread words a private copy of the turn and hands the result over
under :class:`Live`'s view lock; readers (:meth:`RehearsalService.view`) get copies taken
under the same lock, so no thread reads an object another one is changing.
A failed model call never loses the trainee's text: the session layer degrades (rule-only
verdicts, playbook line) and a reply refused for bad input changes nothing.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator

from actor.auth import Users
from actor.db import Database
from actor.evaluator import Debrief, TurnAssessment, write_debrief
from actor.persona.scenario import Scenario
from actor.persona.state import PersonaState
from actor.record import TurnRecord, actor_line
from actor.session import Session, Workbench
from actor.refusals import Refusal
from actor.web.render import clean

STATUSES = ("active", "paused", "ended", "stopped")
"""A stored session's status: ``ended`` (the trainee ended it, or the scenario ended by itself)
and ``stopped`` (the stop button) both end it."""


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


def _worded(turn: TurnRecord, assessment: TurnAssessment, seconds: dict[str, float]) -> TurnRecord:
    """A copy of ``turn`` with its worded ``assessment`` and the grading's ``seconds`` added."""
    return turn.model_copy(update={"assessment": assessment, "seconds": {**turn.seconds, **seconds}})


@dataclass
class Live:
    """A session loaded in this process: the session (its turns carry their database ids), a
    lock that serialises its turns (``lock``), pending gradings by turn id, and when it was last
    used (``last_used``, the service's clock, in seconds).

    Readers do not touch ``session`` directly: the thread that changed the session (holding
    ``lock``) calls :meth:`publish`, the grading thread calls :meth:`hand_over`, and readers
    call :meth:`snapshot`; all three take the view lock. The grading thread never changes the
    session's records: it hands its result over, and :meth:`snapshot` shows it at once;
    :meth:`publish` (on the session's own thread) then puts it in the session as a new record.
    """

    id: str
    session: Session
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: dict[int, Future] = field(default_factory=dict)
    last_used: float = 0.0
    _view_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _turns: tuple[TurnRecord, ...] = field(default=(), repr=False)
    _state: PersonaState | None = field(default=None, repr=False)
    _worded: dict[int, tuple[TurnAssessment, dict[str, float]]] = field(default_factory=dict, repr=False)

    def publish(self) -> None:
        """Call holding ``lock``: put the assessments handed over since the last call into the
        session (each as a new record in place of the old one), then make the session's current
        branch and state what :meth:`snapshot` returns."""
        with self._view_lock:
            turns = self.session.turns
            for i, turn in enumerate(turns):
                if turn.id in self._worded:
                    turns[i] = _worded(turn, *self._worded.pop(turn.id))
            self._worded.clear()  # what is left belongs to turns a retry rewound away (they are stored)
            self._turns, self._state = tuple(turns), self.session.state

    def hand_over(self, turn_id: int, assessment: TurnAssessment, seconds: dict[str, float]) -> None:
        """From the grading thread: the worded ``assessment`` of turn ``turn_id`` and the
        timings ``seconds`` of its grading. Shown by :meth:`snapshot` at once, put in the
        session at the next :meth:`publish`."""
        with self._view_lock:
            self._worded[turn_id] = (assessment, seconds)

    def snapshot(self) -> tuple[tuple[TurnRecord, ...], PersonaState]:
        """``(turns, state)``: copies of the published active branch's records (with the
        assessments handed over since) and the persona state after them."""
        with self._view_lock:
            return tuple(_worded(t, *self._worded[t.id]) if t.id in self._worded else
                         t.model_copy(update={"seconds": dict(t.seconds)}) for t in self._turns), self._state

    def busy(self) -> bool:
        """Whether a turn or a retry holds the session, or a grading of it is still running."""
        return self.lock.locked() or not all(f.done() for f in list(self.pending.values()))


@dataclass(frozen=True)
class SessionView:
    """One session as a page shows it, read at one moment (:meth:`RehearsalService.view`).

    ``status``: one of :data:`STATUSES` (``ended`` also when the scenario ended by itself);
    ``outcome``: the persona state's outcome (``resolved``, ``success``, ``ended_early``, …) or
    ``None`` (both derived from the turns); ``pass_mark``: a share 0–1 (assessment mode);
    ``debrief``: the stored debrief's ``model_dump()`` or ``None``; ``opening``: the customer's
    first line; ``turns``: copies of the active branch's :class:`~actor.record.TurnRecord`\\ s;
    ``level``: the current escalation level 0–4.
    """

    id: str
    scenario: Scenario
    difficulty: str
    lang: str
    mode: str
    pass_mark: float | None
    show_feedback: bool
    status: str
    outcome: str | None
    reflection: str | None
    debrief: dict | None
    opening: str
    turns: tuple[TurnRecord, ...]
    level: int

    @property
    def ended(self) -> bool:
        """Whether the conversation is over (ended by the trainee or by itself, or stopped)."""
        return self.status in ("ended", "stopped")


class SessionNotFound(KeyError):
    """No session with this id (or not visible to this user). ``code``: ``session_not_found``
    (see :mod:`actor.refusals`)."""

    code = "session_not_found"
    params: dict = {}


class RehearsalService:
    """Sessions on ``bench`` (models, retriever) stored in ``db``.

    ``grading_workers``: background threads that grade turns (1 on a 2-core laptop: grading
    calls queue behind each other instead of competing for the cores). ``users``: who may open
    which session (:class:`~actor.auth.Users` over ``db`` when omitted). ``idle_seconds``: a live
    session unused this long is evicted from memory (restored from ``db`` on its next request);
    ``max_live``: at most this many live sessions are kept (the least recently used idle ones
    are evicted first; a session in a turn or with a grading running is never evicted);
    ``clock``: seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, bench: Workbench, db: Database, grading_workers: int = 1, *, users: Users | None = None,
                 idle_seconds: float = 1800.0, max_live: int = 200, clock: Callable[[], float] = time.monotonic) -> None:
        self.bench = bench
        self.db = db
        self.users = users if users is not None else Users(db)
        self.idle_seconds = idle_seconds
        self.max_live = max_live
        self.clock = clock
        self.gate = ForegroundGate()
        self._live: dict[str, Live] = {}
        self._live_lock = threading.Lock()
        self._grading = ThreadPoolExecutor(grading_workers, thread_name_prefix="grading")
        self._prefill = ThreadPoolExecutor(1, thread_name_prefix="prefill")

    # --- who may open what ----------------------------------------------------------------

    def may_open(self, row, user: str | None) -> bool:
        """Whether ``user`` may open the stored session ``row``: anyone while nobody has to log
        in, else only its owner."""
        if not self.users.required():
            return True
        return bool(user) and row.owner == user

    # --- sessions -------------------------------------------------------------------------

    def start(self, scenario: str, difficulty: str, lang: str, mode: str = "practice", pass_mark: float | None = None,
              show_feedback: bool = True, user: str | None = None) -> Live:
        """A new stored session, owned by ``user`` while logins are required. ``pass_mark``: a
        share 0–1 (assessment mode). Raises ``KeyError`` for an unknown scenario or difficulty,
        ``ValueError`` for a bad language and :class:`Refusal` ``bad_mode`` for a bad mode."""
        if mode not in ("practice", "assessment"):
            raise Refusal("bad_mode", mode=mode)
        session = self.bench.new_session(scenario, difficulty, lang, before_grading_call=self.gate.wait_idle, grading_yield_to=self.gate.busy)
        sid = self.db.create_session(
            owner=user if self.users.required() else None, scenario=scenario, difficulty=difficulty, lang=lang, mode=mode,
            pass_mark=pass_mark, show_feedback=show_feedback and mode == "practice", status="active",
            opening=asdict(session.opening), policy=session.policy, prompt_sha256=session.actor.prompt_sha256,
            scenario_sha256=session.scenario.sha256,
        )
        live = Live(sid, session, last_used=self.clock())
        live.publish()
        with self._live_lock:
            self._live[sid] = live
            self._evict(keep=sid)
        self._prefill.submit(session.prefill)  # while the trainee reads the opening
        self._grading.submit(session.prefill_wording)  # background work, before the first wording
        return live

    def get(self, session_id: str, user: str | None = None) -> Live:
        """The live session ``session_id``, restored from the database when this process does not
        hold it (after a restart or an eviction); counts as a use. Turns stored without their
        words are queued for grading. Raises :class:`SessionNotFound` (also when ``user`` may
        not open it)."""
        return self._open(session_id, user)[0]

    def view(self, session_id: str, user: str | None = None, touch: bool = True) -> SessionView:
        """Session ``session_id`` as the page shows it (a :class:`SessionView`). ``touch=False``
        (a timer refreshing the page) does not count as a use for eviction. Raises
        :class:`SessionNotFound`."""
        live, row = self._open(session_id, user, touch)
        turns, state = live.snapshot()
        s = live.session
        status = "ended" if state.ended and row.status in ("active", "paused") else row.status
        return SessionView(
            id=session_id, scenario=s.scenario, difficulty=s.difficulty_name, lang=s.lang, mode=row.mode,
            pass_mark=row.pass_mark, show_feedback=row.show_feedback, status=status, outcome=state.outcome,
            reflection=row.reflection, debrief=row.debrief, opening=s.opening.text, turns=turns, level=state.level,
        )

    def row(self, session_id: str, user: str | None = None):
        """The stored session row (status, mode, pass mark, reflection, debrief). Raises
        :class:`SessionNotFound`."""
        row = self.db.get_session(session_id) if session_id else None
        if row is None or not self.may_open(row, user):
            raise SessionNotFound(session_id)
        return row

    def _open(self, session_id: str, user: str | None, touch: bool = True):
        """``(live, row)`` for a request of ``user``; restores and evicts as described above."""
        row = self.row(session_id, user)
        with self._live_lock:
            live = self._live.get(session_id)
            if live is None:
                live = self._live[session_id] = self._restore(row)
                touch = True
            if touch:
                live.last_used = self.clock()
            self._evict(keep=session_id)
        return live, row

    def _restore(self, row) -> Live:
        """The session of ``row`` rebuilt from its stored records (held under ``_live_lock``)."""
        session = self.bench.new_session(row.scenario, row.difficulty, row.lang, policy=row.policy,
                                         opening=actor_line(row.opening), turns=self.db.records(row.id),
                                         before_grading_call=self.gate.wait_idle, grading_yield_to=self.gate.busy)
        live = Live(row.id, session, last_used=self.clock())
        live.publish()
        for turn in session.turns:
            if turn.needs_wording:
                self._queue_grading(live, turn)
        return live

    def _evict(self, keep: str | None = None) -> None:
        """Drop idle live sessions (held under ``_live_lock``); ``keep``: the one being used."""
        now = self.clock()
        free = [live for sid, live in self._live.items() if sid != keep and not live.busy()]
        for live in free:
            if now - live.last_used >= self.idle_seconds:
                del self._live[live.id]
        over = len(self._live) - self.max_live
        if over > 0:
            for live in sorted((lv for lv in free if lv.id in self._live), key=lambda lv: lv.last_used)[:over]:
                del self._live[live.id]

    def evict_idle(self) -> list[str]:
        """Evict now what is idle or over the cap (it also happens on every request); the ids
        still held are returned."""
        with self._live_lock:
            self._evict()
            return list(self._live)

    def _hold(self, session_id: str, user: str | None, blocking: bool) -> Live:
        """The live session with its turn lock held by the caller (who releases it). Raises
        :class:`Refusal` ``busy`` when ``blocking`` is false and a turn runs."""
        while True:
            live, _ = self._open(session_id, user)
            if not live.lock.acquire(blocking=blocking):
                raise Refusal("busy")
            with self._live_lock:
                if self._live.get(session_id) is live:  # not evicted between the two
                    return live
            live.lock.release()

    # --- one trainee turn -----------------------------------------------------------------

    def _check_reply(self, live: Live, row, reply: str) -> None:
        """Raises :class:`Refusal` for ``reply`` in this session: ``conversation_paused``,
        ``conversation_ended``, ``empty_reply``, ``reply_too_long``."""
        if row.status == "paused":
            raise Refusal("conversation_paused")
        if row.status != "active":
            raise Refusal("conversation_ended", status=row.status)
        live.session.check_reply(reply)  # ended scenario, empty or over-long reply

    def respond(self, session_id: str, reply: str, user: str | None = None) -> Iterator[str | TurnRecord]:
        """Answer ``reply`` in session ``session_id`` for ``user``: an iterator that yields the
        customer's text so far while it is generated, then the stored
        :class:`~actor.record.TurnRecord` (its ``id`` set, its wording queued).

        Checked when called, before the iterator is returned (nothing changes): raises
        :class:`SessionNotFound`, and :class:`Refusal` (a ``ValueError``) with code
        ``empty_reply``, ``reply_too_long``, ``conversation_paused``, ``conversation_ended`` or
        ``busy`` (another reply of this session is still being answered). Only a request that
        races this one between the call and the first item can make the first ``next()``
        raise one of these refusals instead. Control characters (NUL, escape sequences) are
        removed from ``reply`` first.
        """
        reply = clean(reply)
        live, row = self._open(session_id, user)
        self._check_reply(live, row, reply)
        if live.lock.locked():
            raise Refusal("busy")
        return self._answer(session_id, reply, user)

    def _answer(self, session_id: str, reply: str, user: str | None) -> Iterator[str | TurnRecord]:
        live = self._hold(session_id, user, blocking=False)
        try:
            self._check_reply(live, self.row(session_id, user), reply)  # again: another request may have come first
            live.publish()  # the feedback worded since the last turn is in the session (tips not to repeat)
            parent_id = live.session.turns[-1].id if live.session.turns else None
            with self.gate.active():
                turn = None
                for item in live.session.respond(reply):
                    if isinstance(item, TurnRecord):
                        turn = item
                    else:
                        yield item
            # stored with its verdicts (the words follow) before anyone else sees it
            turn.id = self.db.add_record(session_id, parent_id, turn)
            if live.session.ended:
                self.db.update_session(session_id, status="ended", outcome=live.session.state.outcome)
            else:  # while the trainee reads the line and thinks
                self._prefill.submit(live.session.prefill)
            live.publish()
            if turn.needs_wording:  # a worked example from the bank is final already
                self._queue_grading(live, turn)
        finally:
            live.lock.release()
        yield turn

    def _queue_grading(self, live: Live, turn: TurnRecord) -> None:
        """Word ``turn`` (a stored record of ``live``) on the grading worker, store the result and
        hand it over to readers. Call holding ``live.lock``: the turn's grade request is read
        from the session now, so a retry that rewinds the session before the worker gets to it
        changes nothing."""
        request = live.session.grade_request(turn)  # read here, on the session's thread: a retry may rewind it

        def grade() -> None:
            own = turn.model_copy(update={"seconds": {}})  # worded privately: readers never see it half-way
            tips = [t.assessment.tip for t in live.snapshot()[0] if t.assessment is not None and t.assessment.tip]
            assessment = live.session.grade(own, avoid=tips, request=request)
            self.db.set_assessment(turn.id, assessment.model_dump())
            live.hand_over(turn.id, assessment, own.seconds)

        live.pending[turn.id] = self._grading.submit(grade)

    def wait_for_grades(self, session_id: str, timeout: float | None = None, user: str | None = None) -> None:
        """Block until every queued grading of the session is stored and handed over (at most
        ``timeout`` seconds per grading; raises ``TimeoutError`` then, and what a grading
        raised). Raises :class:`SessionNotFound`."""
        live = self.get(session_id, user)
        for future in list(live.pending.values()):
            future.result(timeout=timeout)

    def grading_done(self, session_id: str, user: str | None = None) -> bool:
        """Whether every queued grading of the session has finished. Raises :class:`SessionNotFound`."""
        live = self.get(session_id, user)
        return all(f.done() for f in list(live.pending.values()))

    # --- control --------------------------------------------------------------------------

    def retry_from(self, session_id: str, number: int, user: str | None = None) -> None:
        """Answer turn ``number`` (1-based) again: the session goes back to the customer's line
        before it. The turns from ``number`` on stay stored as the earlier branch. Waits for a
        turn that is being answered. Raises :class:`Refusal` ``no_such_turn`` for a turn that
        does not exist, :class:`SessionNotFound`."""
        live = self._hold(session_id, user, blocking=True)
        try:
            if not 1 <= number <= len(live.session.turns):
                raise Refusal("no_such_turn", number=number)
            live.session.rewind(number - 1)
            self.db.set_head(session_id, live.session.turns[-1].id if live.session.turns else None)
            self.db.update_session(session_id, status="active", outcome=None, debrief=None, debrief_markdown=None)
            live.publish()
        finally:
            live.lock.release()

    def set_status(self, session_id: str, status: str, reflection: str | None = None, user: str | None = None) -> None:
        """``active``, ``paused``, ``ended`` (the trainee ended it) or ``stopped`` (the stop
        button: ends at once); ``reflection``: the trainee's answer to the reflection question.
        Raises :class:`Refusal` ``bad_status`` for another status, :class:`SessionNotFound`."""
        if status not in STATUSES:
            raise Refusal("bad_status", status=status)
        fields = {"status": status}
        if reflection is not None:
            fields["reflection"] = reflection
        self._open(session_id, user)
        self.db.update_session(session_id, **fields)

    def debrief(self, session_id: str, timeout: float | None = 600, user: str | None = None) -> Debrief:
        """The session's debrief (waits at most ``timeout`` seconds per pending grading; stored;
        written once per branch). Raises :class:`Refusal` ``no_turns`` for a session without
        turns, :class:`SessionNotFound`."""
        live, row = self._open(session_id, user)
        if row.debrief:
            return Debrief.model_validate(row.debrief)
        if not live.snapshot()[0]:
            raise Refusal("no_turns")
        self.wait_for_grades(session_id, timeout, user)
        debrief = write_debrief(list(live.snapshot()[0]), live.session.lang, self.bench.evaluator_model, self.bench.evaluator_id)
        self.db.update_session(session_id, debrief=debrief.model_dump(), debrief_markdown=debrief.markdown)
        return debrief

    def close(self) -> None:
        self._grading.shutdown(wait=False, cancel_futures=True)
        self._prefill.shutdown(wait=False, cancel_futures=True)

