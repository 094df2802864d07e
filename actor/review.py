"""Reviewing stored sessions: summaries and filters, verdict overrides, exports and imports.

Used by the reviewer workspace (:mod:`actor.web.reviewer`) and by ``actor export`` /
``actor import``. A reviewer's override never replaces the evaluator's verdict: both are kept
and shown; the *effective* verdict of a criterion is the newest override, else the evaluator's.

Turns are read as :class:`~actor.record.TurnRecord`\\ s (:meth:`actor.db.Database.records`),
the shape the trainee's page shows; only the JSON export and import work on the stored rows.

Export formats: JSON (every stored column of the session, all its turns on every branch, the
overrides and comments; :func:`import_session` re-creates identical records), CSV (one row per
turn of the active branch, evaluator and effective verdict per criterion) and Markdown (the
transcript with verdicts, evidence, overrides, comments and prompt hashes; PDF via
:func:`actor.web.export.markdown_pdf`); :func:`export_bytes` gives any of them as a file's bytes.

Exports hold what people typed as data, never as markup or formulas: in the Markdown (and so
in the review tab and the PDF) every reply, customer line, reason, quote, tip, comment and
debrief text goes through :func:`actor.web.render.text`; a CSV cell that a spreadsheet would
read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets
a leading apostrophe, as OWASP recommends, and the CSV file is UTF-8 with a byte order mark so
spreadsheets read € and één correctly.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from actor.db import Database
from actor.db.models import CommentRow, OverrideRow, SessionRow, TurnRow
from actor.evaluator.rubric import CRITERIA
from actor.record import TurnRecord
from actor.web.render import clean, debrief_markdown, text

EXPORT_VERSION = 1
EXPORT_FORMATS = ("csv", "json", "md", "pdf")
_IDENT = re.compile(r"[a-z][a-z0-9_]*|n/a")
FORMULA_START = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # and their full-width forms


@dataclass(frozen=True)
class SessionSummary:
    """One row of the reviewer's session table. ``score``: mean effective turn score (0–1) on
    the active branch, ``None`` when nothing was graded."""

    id: str
    owner: str
    scenario: str
    lang: str
    mode: str
    status: str
    created_at: datetime
    turns: int
    score: float | None
    text: str  # every reply and customer line of the active branch, for text search


def evaluator_verdicts(turn: TurnRecord) -> dict[str, str | None]:
    """``{criterion: verdict}`` as the evaluator judged ``turn`` (empty without an assessment)."""
    return turn.assessment.verdicts() if turn.assessment is not None else {}


def effective(turn: TurnRecord, overrides: list[OverrideRow]) -> dict[str, str | None]:
    """``{criterion: verdict}`` of the stored ``turn``: the newest override, else the evaluator's
    verdict."""
    verdicts = evaluator_verdicts(turn)
    for o in sorted((o for o in overrides if o.turn_id == turn.id), key=lambda o: (o.created_at, o.id)):
        verdicts[o.criterion] = o.verdict
    return verdicts


def score(verdicts: dict[str, str | None]) -> float | None:
    """Share of pass among pass/fail verdicts; ``None`` when there are none."""
    graded = [v for v in verdicts.values() if v in ("pass", "fail")]
    return sum(v == "pass" for v in graded) / len(graded) if graded else None


def summarise(db: Database, row: SessionRow) -> SessionSummary:
    """The table row of one session."""
    path = db.records(row.id)
    overrides = db.overrides(row.id)
    scores = [s for s in (score(effective(t, overrides)) for t in path) if s is not None]
    return SessionSummary(row.id, row.owner or "", row.scenario, row.lang, row.mode, row.status, row.created_at, len(path),
                          sum(scores) / len(scores) if scores else None,
                          " ".join(f"{t.customer_line} {t.reply}" for t in path))


def find_sessions(db: Database, *, owner: str | None = None, scenario: str | None = None, lang: str | None = None,
                  mode: str | None = None, since: datetime | None = None, until: datetime | None = None,
                  min_score: float | None = None, max_score: float | None = None, text: str = "",
                  limit: int = 500) -> list[SessionSummary]:
    """Sessions matching every given filter, newest first. ``since``/``until`` compare the
    creation time (aware datetimes); ``min_score``/``max_score`` 0–1 (sessions without a score
    are left out when either is set); ``text``: case-insensitive substring of the transcript."""
    out = []
    for row in db.list_sessions(owner=owner, limit=limit):
        if (scenario and row.scenario != scenario) or (lang and row.lang != lang) or (mode and row.mode != mode):
            continue
        if (since and row.created_at < since) or (until and row.created_at > until):
            continue
        summary = summarise(db, row)
        if min_score is not None or max_score is not None:
            if summary.score is None or (min_score is not None and summary.score < min_score) or (
                    max_score is not None and summary.score > max_score):
                continue
        if text and text.lower() not in summary.text.lower():
            continue
        out.append(summary)
    return out


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _row(obj) -> dict[str, Any]:
    return {c.key: _plain(getattr(obj, c.key)) for c in obj.__table__.columns}


def export_session(db: Database, session_id: str) -> dict[str, Any]:
    """Everything stored about one session as JSON-ready data (every column; a turn's ``move``
    is filled from its assessment, so a reader of the export, or an older version importing
    it, finds the move on every turn). Raises ``KeyError``."""
    row = db.get_session(session_id)
    if row is None:
        raise KeyError(f"no session {session_id!r}")
    turns = sorted({t.id: t for branch in db.branches(session_id) for t in branch}.values(), key=lambda t: t.id)
    return {
        "version": EXPORT_VERSION,
        "session": _row(row),
        "turns": [{**_row(t), "move": (t.assessment or {}).get("move") or t.move} for t in turns],
        "overrides": [_row(o) for o in db.overrides(session_id)],
        "comments": [_row(c) for c in db.comments(session_id)],
    }


def _typed(model, data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for column in model.__table__.columns:
        value = data.get(column.key)
        if value is not None and getattr(column.type, "impl", column.type).python_type is datetime:
            value = datetime.fromisoformat(value)
        out[column.key] = value
    return out


def import_session(db: Database, data: dict[str, Any]) -> str:
    """Re-create an exported session (same ids, times and content). Raises ``ValueError`` for an
    unknown export version or an existing session id."""
    if data.get("version") != EXPORT_VERSION:
        raise ValueError(f"unknown export version {data.get('version')!r}")
    turns = [_typed(TurnRow, t) for t in data["turns"]]
    for t in turns:  # the move is stored once: in the assessment when the turn has one
        if t["assessment"] is not None:
            t["move"] = None
    db.import_records(_typed(SessionRow, data["session"]), turns,
                      [_typed(OverrideRow, o) for o in data["overrides"]], [_typed(CommentRow, c) for c in data["comments"]])
    return data["session"]["id"]


def csv_cell(value: Any) -> str:
    """``value`` as a CSV cell that no spreadsheet runs: control characters removed (line
    breaks kept), and a leading apostrophe when the text starts with a tab, a carriage return,
    or (after spaces) ``=``, ``+``, ``-`` or ``@``, so it is shown as text, not evaluated."""
    if value is None:
        return ""
    raw = str(value)
    cell = clean(raw)
    if raw[:1] in ("\t", "\r") or cell.lstrip(" ").startswith(FORMULA_START):
        return "'" + cell
    return cell


def export_csv(db: Database, session_ids: list[str]) -> str:
    """One CSV row per turn of each session's active branch (every cell through
    :func:`csv_cell`, every cell quoted). Raises ``KeyError`` for an unknown session."""
    out = io.StringIO()
    fields = ["session", "owner", "scenario", "lang", "mode", "created_at", "turn", "customer_line", "reply", "move",
              "level_before", "level_after", *[f"{c}_ai" for c in CRITERIA], *[f"{c}_final" for c in CRITERIA], "score"]
    writer = csv.DictWriter(out, fieldnames=fields, quoting=csv.QUOTE_ALL)
    writer.writeheader()
    for sid in session_ids:
        row = db.get_session(sid)
        if row is None:
            raise KeyError(f"no session {sid!r}")
        overrides = db.overrides(sid)
        for t in db.records(sid):
            ai = evaluator_verdicts(t)
            final = effective(t, overrides)
            writer.writerow({key: csv_cell(value) for key, value in {
                "session": sid, "owner": row.owner or "", "scenario": row.scenario, "lang": row.lang, "mode": row.mode,
                "created_at": row.created_at.isoformat(), "turn": t.number, "customer_line": t.customer_line,
                "reply": t.reply, "move": t.move, "level_before": t.state_before.level, "level_after": t.state_after.level,
                **{f"{c}_ai": ai.get(c) or "" for c in CRITERIA}, **{f"{c}_final": final.get(c) or "" for c in CRITERIA},
                "score": "" if score(final) is None else f"{score(final):.3f}",
            }.items()})
    return out.getvalue()


def export_markdown(db: Database, session_id: str) -> str:
    """The active branch as a Markdown transcript with verdicts, evidence, overrides and
    comments; everything people or models wrote is passed through :func:`~actor.web.render.text`
    (shown as text wherever the Markdown is rendered). Raises ``KeyError``."""
    row = db.get_session(session_id)
    if row is None:
        raise KeyError(f"no session {session_id!r}")
    overrides, comments = db.overrides(session_id), db.comments(session_id)
    lines = [f"# Session {text(session_id)}", "",
             f"- trainee: {text(row.owner) or '-'} · scenario: {text(row.scenario)} ({text(row.difficulty)}, {text(row.lang)}) "
             f"· mode: {text(row.mode)}",
             f"- started: {row.created_at:%Y-%m-%d %H:%M} UTC · status: {text(row.status)} · outcome: {text(row.outcome) or '-'}",
             f"- customer's prompt sha256 `{(row.prompt_sha256 or '')[:12]}` · scenario file sha256 "
             f"`{(row.scenario_sha256 or '')[:12]}`", "",
             f"**Customer:** {text((row.opening or {}).get('text', ''))}", ""]
    for t in db.records(session_id):
        a = t.assessment
        lines += [f"## Turn {t.number} (L{t.state_before.level} → L{t.state_after.level}, move {_ident(t.move)})", "",
                  f"**Trainee:** {text(t.reply)}", ""]
        final = effective(t, overrides)
        for cid, r in (a.criteria.items() if a else ()):
            if r.verdict == "n/a":
                continue
            mine = [o for o in overrides if o.turn_id == t.id and o.criterion == cid]
            note = (f" → **{_ident(final[cid])}** (reviewer {text(mine[-1].reviewer)}: {text(mine[-1].comment)})"
                    if mine else "")
            evidence = f" — quote: “{text(r.evidence)}”" if r.evidence else ""
            reason = f" — {text(r.reason)}" if r.reason else ""
            lines.append(f"- {_ident(cid)}: {_ident(r.verdict) or 'none'}{note}{reason}{evidence}")
        if a:
            lines += ["", f"Tip: {text(a.tip)}" if a.tip else "",
                      f"Evaluator: model `{_code(a.model_id)}`, rubric sha256 `{_code(a.rubric_sha256)[:12]}`, "
                      f"grading prompt sha256 `{_code(a.prompt_sha256)[:12]}`, status {text(a.status)}"]
        if t.answer:
            lines.append(f"Customer's line: {text(t.answer.path)}, tactic {text(t.answer.tactic)}, "
                         f"prompt sha256 `{_code(t.answer.prompt_sha256)[:12]}`")
        lines += [f"> {text(c.author)}: {text(c.text)}" for c in comments if c.turn_id == t.id]
        if t.answer:
            lines += ["", f"**Customer:** {text(t.answer.text)}"]
        lines.append("")
    if row.debrief or row.debrief_markdown:
        lines += ["---", "", _debrief(row)]
    return "\n".join(lines)


def _ident(value: Any) -> str:
    """A criterion id or verdict (``stays_calm``, ``n/a``) as it is when it looks like one,
    else through :func:`~actor.web.render.text`."""
    value = "" if value is None else str(value)
    return value if _IDENT.fullmatch(value) else text(value)


def _code(value: Any) -> str:
    """A model id or hash for a code span: backticks and line breaks removed; ``-`` when empty."""
    return clean(str(value or "")).replace("`", "").replace("\n", " ").strip() or "-"


def _debrief(row: SessionRow) -> str:
    """The stored debrief as Markdown with its free text escaped (without a structured debrief:
    the stored Markdown, as text)."""
    return debrief_markdown(row.debrief) if row.debrief else text(row.debrief_markdown)


def export_bytes(db: Database, session_ids: list[str], fmt: str) -> bytes:
    """The sessions as a file's bytes: ``csv`` (UTF-8 with a byte order mark), ``json`` (a list
    of :func:`export_session` records, UTF-8), ``md`` (the transcripts, UTF-8) or ``pdf``.
    Raises ``KeyError`` for an unknown session and ``ValueError`` for another format."""
    if fmt == "csv":
        return export_csv(db, session_ids).encode("utf-8-sig")
    if fmt == "json":
        return json.dumps([export_session(db, i) for i in session_ids], ensure_ascii=False, indent=2).encode("utf-8")
    if fmt not in ("md", "pdf"):
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    md = "\n\n".join(export_markdown(db, i) for i in session_ids)
    if fmt == "md":
        return md.encode("utf-8")
    from actor.web.export import markdown_pdf

    return markdown_pdf(md, title="Sessions")


def dashboard(db: Database, summaries: list[SessionSummary]) -> dict[str, list[dict[str, Any]]]:
    """Plot data over ``summaries``: pass rate per criterion, failures per criterion (most
    common first), session score over time, mean score per scenario (effective verdicts)."""
    passed: dict[str, list[int]] = {c: [] for c in CRITERIA}
    for s in summaries:
        overrides = db.overrides(s.id)
        for t in db.records(s.id):
            for cid, v in effective(t, overrides).items():
                if v in ("pass", "fail") and cid in passed:
                    passed[cid].append(v == "pass")
    per_scenario: dict[str, list[float]] = {}
    for s in summaries:
        if s.score is not None:
            per_scenario.setdefault(s.scenario, []).append(s.score)
    return {
        "pass_rate": [{"criterion": c, "pass_rate": sum(v) / len(v)} for c, v in passed.items() if v],
        "failures": sorted(({"criterion": c, "failures": len(v) - sum(v)} for c, v in passed.items() if v),
                           key=lambda r: -r["failures"]),
        "over_time": [{"date": s.created_at.replace(tzinfo=None), "score": s.score, "scenario": s.scenario}
                      for s in sorted(summaries, key=lambda s: s.created_at) if s.score is not None],
        "per_scenario": [{"scenario": k, "score": sum(v) / len(v)} for k, v in sorted(per_scenario.items())],
    }
