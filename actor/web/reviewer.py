"""The reviewer workspace (Gradio): find sessions, read transcripts with verdicts and hashes,
override a verdict with a comment, comment on turns, export, and a dashboard.

Only users with the role ``reviewer`` or ``trainer`` (or everyone when the app runs without
login) may use it; every handler checks the role of the logged-in user. The transcript is the
Markdown of :func:`actor.review.export_markdown` (everything people and models wrote in it is
escaped); exports are offered through :class:`~actor.web.downloads.Downloads` to the reviewer
who made them, and only while their role still allows it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import gradio as gr
import pandas as pd

from actor import review
from actor.auth import Users
from actor.db import Database
from actor.evaluator.rubric import CRITERIA, default_rubric
from actor.web.downloads import Downloads

ANY = "any"
STAFF = ("reviewer", "trainer")
COLUMNS = ["session", "trainee", "scenario", "lang", "mode", "status", "started", "turns", "score"]


def may_review(users: Users, request: gr.Request | None) -> bool:
    """Reviewers and trainers may; everyone may when nobody has to log in."""
    if not users.required():
        return True
    return users.role(getattr(request, "username", None)) in STAFF


def _date(text: str, end: bool = False) -> datetime | None:
    """``YYYY-MM-DD`` → an aware UTC datetime (end of that day when ``end``); ``None`` for empty.
    Raises ``gr.Error`` for anything else."""
    if not text.strip():
        return None
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise gr.Error("dates are written as YYYY-MM-DD") from exc
    return day + timedelta(days=1) if end else day


def build_reviewer(db: Database, users: Users, downloads: Downloads, scenarios=dict) -> None:
    """The workspace's components and events, inside the caller's ``gr.Blocks``/``gr.Tab``;
    exports are offered through ``downloads``; ``scenarios()`` returns the current scenarios by
    id (for their titles)."""
    gr.Markdown("### Sessions\nFilter, then click a row to open the transcript.")
    with gr.Row():
        owner = gr.Textbox(label="Trainee", scale=1)
        scenario = gr.Dropdown([ANY, "counter", "phone", "office", "intimidation"], value=ANY, label="Scenario", scale=1)
        lang = gr.Dropdown([ANY, "nl", "en"], value=ANY, label="Language", scale=1)
        mode = gr.Dropdown([ANY, "practice", "assessment"], value=ANY, label="Mode", scale=1)
    with gr.Row():
        since = gr.Textbox(label="From (YYYY-MM-DD)", scale=1)
        until = gr.Textbox(label="Until (YYYY-MM-DD)", scale=1)
        min_score = gr.Slider(0, 100, value=0, step=5, label="Score at least (%)", scale=1)
        max_score = gr.Slider(0, 100, value=100, step=5, label="Score at most (%)", scale=1)
        text = gr.Textbox(label="Text in the transcript", scale=2)
    search = gr.Button("Search", variant="primary", elem_id="review-search")
    table = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True, elem_id="review-table")
    with gr.Row():
        pass_rate = gr.BarPlot(x="criterion", y="pass_rate", title="Pass rate per criterion", y_lim=[0, 1])
        failures = gr.BarPlot(x="criterion", y="failures", title="Most common failures")
    with gr.Row():
        over_time = gr.ScatterPlot(x="date", y="score", color="scenario", title="Session scores over time", y_lim=[0, 1])
        per_scenario = gr.BarPlot(x="scenario", y="score", title="Mean score per scenario", y_lim=[0, 1])

    gr.Markdown("### Transcript")
    with gr.Row():
        session_id = gr.Textbox(label="Session id", elem_id="review-session-id", scale=3)
        open_button = gr.Button("Open", scale=1)
    transcript = gr.Markdown(elem_id="review-transcript", latex_delimiters=[])
    with gr.Row():
        turn = gr.Number(label="Turn", precision=0, minimum=1, value=1, scale=1)
        criterion = gr.Dropdown(list(CRITERIA), value=CRITERIA[0], label="Criterion", scale=2)
        verdict = gr.Radio(["pass", "fail", "n/a"], value=None, label="Your verdict", scale=2)
        comment = gr.Textbox(label="Why (kept beside the evaluator's verdict)", scale=4)
    with gr.Row():
        save_override = gr.Button("Save override")
        add_comment = gr.Button("Add as a comment on the turn")

    gr.Markdown("### Export")
    export_ids = gr.Textbox(label="Sessions to export (ids, comma-separated; empty = the table above)", elem_id="export-ids")
    with gr.Row():
        export_buttons = {fmt: gr.Button(f"Export {fmt.upper()}") for fmt in ("csv", "json", "md", "pdf")}
    download = gr.Button("Download", link=None, visible=False, elem_id="export-file")
    found_ids = gr.State([])

    def guard(request: gr.Request | None) -> None:
        if not may_review(users, request):
            raise gr.Error("Only reviewers and trainers may open this workspace.")

    def on_search(o, sc, la, mo, si, un, lo, hi, tx, request: gr.Request):
        guard(request)
        found = review.find_sessions(
            db, owner=o.strip() or None, scenario=None if sc == ANY else sc, lang=None if la == ANY else la,
            mode=None if mo == ANY else mo, since=_date(si), until=_date(un, end=True),
            min_score=lo / 100 if lo > 0 else None, max_score=hi / 100 if hi < 100 else None, text=tx.strip())
        titles = {sid: sc.title for sid, sc in scenarios().items()}
        rows = [[s.id, s.owner, titles[s.scenario](s.lang) if s.scenario in titles else s.scenario, s.lang, s.mode, s.status,
                 f"{s.created_at:%Y-%m-%d %H:%M}", s.turns, "" if s.score is None else f"{s.score:.0%}"] for s in found]
        data = review.dashboard(db, found)
        names = {c.id: c.name("en") for c in default_rubric().criteria}
        for key in ("pass_rate", "failures"):
            data[key] = [{**r, "criterion": names.get(r["criterion"], r["criterion"])} for r in data[key]]
        frames = {k: pd.DataFrame(v) for k, v in data.items()}
        if len(frames["over_time"]):
            frames["over_time"]["date"] = pd.to_datetime(frames["over_time"]["date"])
        empty = {"pass_rate": ["criterion", "pass_rate"], "failures": ["criterion", "failures"],
                 "over_time": ["date", "score", "scenario"], "per_scenario": ["scenario", "score"]}
        frames = {k: f if len(f) else pd.DataFrame(columns=empty[k]) for k, f in frames.items()}
        return {table: pd.DataFrame(rows, columns=COLUMNS), pass_rate: frames["pass_rate"], failures: frames["failures"],
                over_time: frames["over_time"], per_scenario: frames["per_scenario"], found_ids: [s.id for s in found]}

    filters = [owner, scenario, lang, mode, since, until, min_score, max_score, text]
    search.click(on_search, filters, {table, pass_rate, failures, over_time, per_scenario, found_ids})

    def on_select(evt: gr.SelectData, request: gr.Request):
        guard(request)
        row = evt.row_value if evt.row_value else None
        sid = row[0] if row else ""
        return {session_id: sid, transcript: review.export_markdown(db, sid) if sid else ""}

    table.select(on_select, None, {session_id, transcript})

    def on_open(sid, request: gr.Request):
        guard(request)
        try:
            return review.export_markdown(db, sid.strip())
        except KeyError as exc:
            raise gr.Error("No session with that id.") from exc

    open_button.click(on_open, session_id, transcript)

    def turn_id(sid: str, number) -> int:
        path = db.path(sid.strip()) if db.get_session(sid.strip()) else None
        if not path:
            raise gr.Error("Open a session with turns first.")
        if not number or not 1 <= int(number) <= len(path):
            raise gr.Error(f"Pick a turn between 1 and {len(path)}.")
        return path[int(number) - 1].id

    def on_override(sid, number, cid, v, why, request: gr.Request):
        guard(request)
        if v not in ("pass", "fail", "n/a"):
            raise gr.Error("Pick your verdict first.")
        if not why.strip():
            raise gr.Error("Say why you override the evaluator (the comment is kept beside both verdicts).")
        db.add_override(turn_id(sid, number), cid, v, why.strip(), getattr(request, "username", None) or "reviewer")
        gr.Info("Override saved; the evaluator's verdict stays visible beside it.")
        return {transcript: review.export_markdown(db, sid.strip()), comment: "", verdict: None}

    save_override.click(on_override, [session_id, turn, criterion, verdict, comment], {transcript, comment, verdict})

    def on_comment(sid, number, why, request: gr.Request):
        guard(request)
        if not why.strip():
            raise gr.Error("Type the comment first.")
        db.add_comment(turn_id(sid, number), getattr(request, "username", None) or "reviewer", why.strip())
        return {transcript: review.export_markdown(db, sid.strip()), comment: ""}

    add_comment.click(on_comment, [session_id, turn, comment], {transcript, comment})

    def on_export(fmt: str):
        def run(ids_text, found, request: gr.Request):
            guard(request)
            ids = [i.strip() for i in ids_text.split(",") if i.strip()] or list(found)
            if not ids:
                raise gr.Error("Nothing to export: search first or give session ids.")
            missing = [i for i in ids if db.get_session(i) is None]
            if missing:
                raise gr.Error(f"{len(missing)} unknown session id(s); check the list.")
            name = f"sessions-{datetime.now(UTC):%Y%m%d-%H%M%S}.{fmt}"
            link = downloads.offer(review.export_bytes(db, ids, fmt), name, getattr(request, "username", None), STAFF)
            return gr.update(value=f"Download {name}", link=link, visible=True)
        return run

    for fmt, button in export_buttons.items():
        button.click(on_export(fmt), [export_ids, found_ids], download)
