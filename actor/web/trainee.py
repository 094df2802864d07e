"""The trainee's rehearsal room (Gradio Blocks): pick a scenario, rehearse, get a debrief.

All conversation state is in the :class:`~actor.web.service.RehearsalService` and the database;
the page only holds the session id (a hidden textbox, per browser tab) and the URL carries it
(``?session=<id>``), so a reload or a server restart resumes the session.

Handlers address their outputs by component: each returns (or yields) a dict
``{component: value}`` with only what it changes (:meth:`Room.page` for everything a session
shows), never a positional tuple. Refusals from the service carry a code and are shown in the
session's language (:func:`actor.refusals.message`); the service checks who may open a
session, the handlers pass it the logged-in user.
"""

from __future__ import annotations

import html
from typing import Iterator, Sequence

import gradio as gr

from actor.evaluator import default_rubric
from actor.record import TurnRecord
from actor.session import MAX_REPLY_CHARS
from actor.web import render
from actor.web.export import markdown_pdf
from actor.refusals import Refusal, message
from actor.web.service import RehearsalService, SessionNotFound, SessionView
from actor.domain import LEVEL_NAMES

LEVELS = {lang: [f"L{i} {name}" for i, name in enumerate(names)] for lang, names in LEVEL_NAMES.items()}
MARK = {"pass": "✓", "fail": "✗", None: "…"}  # plain symbols: present in common fonts, unlike emoji
LABELS = {
    "nl": {"reply": f"Jouw antwoord (hoogstens {MAX_REPLY_CHARS} tekens; Enter verstuurt)", "send": "Verstuur",
           "pause": "Pauzeer", "resume": "Hervat", "end": "Gesprek afronden", "stop": "Nu stoppen",
           "retry_turn": "Opnieuw vanaf een eerdere beurt", "retry": "Opnieuw vanaf hier", "turn": "beurt",
           "show_feedback": "Toon feedback", "debrief": "Toon de nabespreking", "md": "Download nabespreking (Markdown)",
           "pdf": "Download nabespreking (PDF)", "new": "Nieuw gesprek", "reflection": "Reflectie", "save": "Opslaan",
           "hidden": "In de toetsmodus is de feedback verborgen.", "assessment": "toetsmodus", "resume_link": "Link om verder te gaan",
           "status": "status", "outcome": "uitkomst", "saved": "Opgeslagen. Neem even de tijd voor je verder gaat.",
           "writing": "De nabespreking wordt geschreven: even wachten op de laatste beoordelingen…"},
    "en": {"reply": f"Your reply (at most {MAX_REPLY_CHARS} characters; Enter sends)", "send": "Send",
           "pause": "Pause", "resume": "Resume", "end": "End conversation", "stop": "Stop now",
           "retry_turn": "Retry from an earlier turn", "retry": "Retry from here", "turn": "turn",
           "show_feedback": "Show feedback", "debrief": "Show the debrief", "md": "Download debrief (Markdown)",
           "pdf": "Download debrief (PDF)", "new": "New conversation", "reflection": "Reflection", "save": "Save",
           "hidden": "Feedback is hidden in assessment mode.", "assessment": "assessment mode", "resume_link": "Resume link",
           "status": "status", "outcome": "outcome", "saved": "Saved. Take a moment before you continue.",
           "writing": "Writing your debrief: waiting for the last grades…"},
}
REFLECTION = {
    "nl": "Je hebt het gesprek gestopt. Goed dat je op jezelf let. **Wat maakte dit moment lastig voor je?** "
          "(Je antwoord blijft bij je sessie; je mag dit ook overslaan.)",
    "en": "You stopped the conversation. Good that you look after yourself. **What made this moment hard for you?** "
          "(Your answer stays with your session; you may also skip this.)",
}
SET_URL_JS = "(sid) => { if (sid) { const u = new URL(window.location); u.searchParams.set('session', sid); window.history.replaceState(null, '', u); } }"
CSS = """
.meter {display:flex; gap:4px; margin:4px 0}
.meter span {flex:1; padding:6px 4px; border-radius:6px; font-size:0.8em; text-align:center; background:#eee; color:#777}
.meter span.on {color:#fff; font-weight:600}
#stop-button {background:#b42318; color:#fff}
"""
CURRENT = ' aria-current="true"'
COLORS = ["#12b76a", "#84cc16", "#f79009", "#f04438", "#912018"]


def meter_html(level: int, lang: str) -> str:
    """The escalation meter: five cells L0–L4; the current level outlined, those below faint."""
    def style(i: int) -> str:
        if i == level:
            return f"background:{COLORS[i]};outline:3px solid #101828"
        return f"background:{COLORS[i]};opacity:0.35" if i < level else ""

    cells = "".join(
        f'<span class="{"on" if i <= level else ""}{" current" if i == level else ""}" style="{style(i)}"'
        f"{CURRENT if i == level else ''}>{html.escape(name)}</span>" for i, name in enumerate(LEVELS[lang]))
    return f'<div class="meter" aria-label="escalation level L{level}" data-level="{level}">{cells}</div>'


ENDINGS = {  # the room's closing note (in the header), by outcome of the persona state (or "stopped")
    "nl": {"resolved": "De klant is geholpen. Het gesprek is afgelopen.",
           "success": "Je hebt het gesprek na de dreiging beëindigd. Het gesprek is afgelopen.",
           "ended_early": "Het gesprek is beëindigd voordat de klant geholpen was.",
           "walked_out": "De klant is weggelopen. Het gesprek is afgelopen.",
           "stopped": "Je hebt het gesprek gestopt.",
           None: "Het gesprek is afgelopen."},
    "en": {"resolved": "The customer has been helped. The conversation has ended.",
           "success": "You ended the conversation after the threat. The conversation has ended.",
           "ended_early": "The conversation ended before the customer was helped.",
           "walked_out": "The customer walked out. The conversation has ended.",
           "stopped": "You stopped the conversation.",
           None: "The conversation has ended."},
}


def ending_note(view: SessionView) -> str | None:
    """The closing note for an ended or stopped session in its language (by outcome,
    :data:`ENDINGS`; an outcome without its own note gets the general one); ``None`` while the
    conversation goes on."""
    if not view.ended:
        return None
    notes = ENDINGS[view.lang]
    return notes["stopped"] if view.status == "stopped" else notes.get(view.outcome, notes[None])


def chat_messages(view: SessionView) -> list[dict]:
    """The active branch as chat messages (``{"role", "content"}``, content Markdown with every
    spoken line through :func:`render.text`): customer = assistant (left), trainee = user
    (right). Only spoken lines: the end of the conversation is said in the header
    (:func:`header_markdown`; Gradio's chat does not show ``system`` messages, and a note after
    the customer's line would join the customer's bubble)."""
    out = [{"role": "assistant", "content": render.text(view.opening)}]
    for t in view.turns:
        out.append({"role": "user", "content": render.text(t.reply)})
        if t.answer:
            out.append({"role": "assistant", "content": render.text(t.answer.text)})
    return out


TEXT = {
    "nl": {"turn": "Beurt", "move": "zet", "grading": "wordt beoordeeld…", "rules_only": "geen getrainde beoordeling beschikbaar: alleen de vaste controles",
           "unsure": "twijfel", "wording": "toelichting volgt…", "uncalibrated": "niet gekalibreerd",
           "empty": "Hier verschijnt de feedback op elk antwoord.",
           "moves": {"acknowledge": "erkennen", "boundary": "grens stellen", "cave": "toegeven", "provoke": "uitlokken",
                     "end_conversation": "gesprek beëindigen", "neutral": "neutraal"}},
    "en": {"turn": "Turn", "move": "move", "grading": "grading…", "rules_only": "no fitted judgement available: rule checks only",
           "unsure": "unsure", "wording": "explanation follows…", "uncalibrated": "not calibrated",
           "empty": "Feedback on each reply appears here.",
           "moves": {"acknowledge": "acknowledge", "boundary": "boundary", "cave": "give in", "provoke": "provoke",
                     "end_conversation": "end the conversation", "neutral": "neutral"}},
}


def verdict_line(name: str, r, T: dict) -> str:
    """One criterion in the feedback panel: ✓ / ✗ / ? (unsure: p(pass) in the uncertain band,
    with the side it leans to), the name, the reason of a confident failure, and a mark for a
    criterion without a fitted head."""
    if r.unsure or r.verdict is None:
        mark, reason = "?", f" — {T['unsure']}" + (f" (p={r.p_pass:.2f})" if r.p_pass is not None else "")
    else:
        mark, reason = MARK[r.verdict], (f" — {render.text(r.reason)}" if r.verdict == "fail" and r.reason else "")
    flag = f" _({T['uncalibrated']})_" if not r.calibrated else ""
    return f"- {mark} {name}{reason}{flag}"


def feedback_markdown(turns: Sequence[TurnRecord], lang: str) -> str:
    """Per turn of ``turns``, newest first, in ``lang``: the move, the verdicts of the applicable
    criteria (with the reason of each failed one) and the tip."""
    rubric = default_rubric()
    T = TEXT[lang]
    parts = []
    for t in reversed(turns):
        head = f"**{T['turn']} {t.number}** — L{t.state_before.level} → L{t.state_after.level}, {T['move']} *{T['moves'][t.move]}*"
        a = t.assessment
        if a is None:
            parts.append(f"{head}\n\n_{T['grading']}_")
            continue
        rows = [verdict_line(rubric.criterion(cid).name(lang), r, T) for cid, r in a.criteria.items() if r.verdict != "n/a"]
        score = f" · score {a.score:.0%}" if a.score is not None else ""
        status = f" · _{T['rules_only']}_" if a.status == "rules_only" else ""
        words = f"\n\n_{T['wording']}_" if a.wording == "pending" else (f"\n\n**Tip:** {render.text(a.tip)}" if a.tip else "")
        parts.append(f"{head}{score}{status}\n\n" + "\n".join(rows) + words)
    return "\n\n---\n\n".join(parts) or f"_{T['empty']}_"



def user_of(request: gr.Request | None) -> str | None:
    """The logged-in user of ``request`` (``None`` when nobody logs in)."""
    return getattr(request, "username", None)


def header_markdown(view: SessionView) -> str:
    """The room's header: scenario, difficulty, language, mode, briefing, resume link, status and
    outcome, and once the conversation has ended its :func:`ending_note` in bold."""
    L = LABELS[view.lang]
    outcome = f" · {L['outcome']}: **{view.outcome}**" if view.outcome else ""
    note = ending_note(view)
    return (f"### {view.scenario.title(view.lang)} · {view.difficulty} · {'Nederlands' if view.lang == 'nl' else 'English'}"
            f"{' · ' + L['assessment'] if view.mode == 'assessment' else ''}\n{view.scenario.briefing(view.lang)}\n\n"
            f"{L['resume_link']}: `?session={view.id}` · {L['status']}: **{view.status}**{outcome}"
            + (f"\n\n**{note}**" if note else ""))


def feedback_text(view: SessionView, show: bool = True) -> str:
    """The feedback panel: hidden in assessment mode, ``…`` while the trainee hides it."""
    if not view.show_feedback:
        return f"_{LABELS[view.lang]['hidden']}_"
    return feedback_markdown(view.turns, view.lang) if show else "…"


class Room:
    """The rehearsal room: its components (made by :meth:`layout` inside the caller's Blocks)
    and its event handlers. Every handler returns or yields ``{component: value}`` dicts;
    :attr:`outputs` lists every component a handler may change (Gradio leaves the ones a dict
    does not name as they are)."""

    def __init__(self, service: RehearsalService, downloads) -> None:
        self.service = service
        self.downloads = downloads

    # --- layout -----------------------------------------------------------------------------

    def layout(self) -> None:
        """Make the room's components inside the caller's open Blocks (setup form, room, timer)."""
        service = self.service
        self.choices = [(f"{s.title('nl')} / {s.title('en')}", sid) for sid, s in service.bench.scenarios.items()]
        first = self.choices[0][1]
        self.sid = gr.Textbox("", visible=False, elem_id="session-id")  # in the page, so the URL can carry it
        gr.Markdown("# The training actor\n*Oefen een lastig gesprek met een boze klant · rehearse a difficult "
                    "conversation with an angry customer.*")
        with gr.Column(visible=True) as self.setup:
            with gr.Row():
                self.scenario = gr.Dropdown(self.choices, value=first, label="Scenario")
                self.difficulty = gr.Radio([("makkelijk · easy", "easy"), ("gemiddeld · medium", "medium"), ("moeilijk · hard", "hard")],
                                           value="medium", label="Moeilijkheid · Difficulty")
                self.lang = gr.Radio([("Nederlands", "nl"), ("English", "en")], value="nl", label="Taal · Language")
            self.brief = gr.Markdown(self.briefing(first, "nl"))
            with gr.Row():
                self.assessment = gr.Checkbox(False, label="Toetsmodus: geen feedback tijdens het gesprek · Assessment mode "
                                                            "(no feedback during the conversation)")
                self.pass_mark = gr.Slider(0, 100, value=60, step=5, label="Cesuur · Pass mark (%)", visible=False)
            self.start = gr.Button("Start het gesprek · Start the conversation", variant="primary")
        with gr.Column(visible=False) as self.room:
            self.header = gr.Markdown()
            self.meter = gr.HTML()
            with gr.Row():
                with gr.Column(scale=3):
                    self.chat = gr.Chatbot(label="Conversation", height=420, buttons=[], feedback_options=None, latex_delimiters=[])
                    self.reply = gr.Textbox(label=f"Your reply (at most {MAX_REPLY_CHARS} characters; Enter sends)",
                                            max_lines=6, elem_id="reply-box")
                    with gr.Row():
                        self.send = gr.Button("Send", variant="primary", elem_id="send-button")
                        self.pause = gr.Button("Pause")
                        self.end = gr.Button("End conversation")
                        self.stop = gr.Button("Stop now", elem_id="stop-button")
                    with gr.Row():
                        self.retry_turn = gr.Dropdown([], label="Retry from an earlier turn", scale=3)
                        self.retry = gr.Button("Retry from here", scale=1)
                with gr.Column(scale=2):
                    self.show_feedback = gr.Checkbox(True, label="Show feedback")
                    self.feedback = gr.Markdown(elem_id="feedback-panel", latex_delimiters=[])
            with gr.Group(visible=False) as self.reflection_box:
                self.reflection_q = gr.Markdown()
                self.reflection = gr.Textbox(label="Reflection", lines=3)
                self.save_reflection = gr.Button("Save")
            self.debrief_button = gr.Button("Show the debrief")
            self.debrief = gr.Markdown(elem_id="debrief", latex_delimiters=[])
            with gr.Row():
                self.download_md = gr.Button("Download debrief (Markdown)", link=None, visible=False)  # links: see on_debrief
                self.download_pdf = gr.Button("Download debrief (PDF)", link=None, visible=False)
            self.new = gr.Button("New conversation")
        self.timer = gr.Timer(2.0)
        self.outputs = [self.sid, self.setup, self.room, self.header, self.meter, self.chat, self.reply, self.feedback,
                        self.retry_turn, self.reflection_box, self.reflection_q, self.pause, self.debrief,
                        self.download_md, self.download_pdf, self.send, self.end, self.stop, self.retry,
                        self.show_feedback, self.debrief_button, self.new, self.reflection, self.save_reflection]

    # --- what a page shows ------------------------------------------------------------------

    def briefing(self, scenario_id: str, lang: str) -> str:
        """The scenario's briefing (read each time: a trainer may have saved a new version)."""
        s = self.service.bench.scenarios[scenario_id]
        return f"**{s.title(lang)}** — {s.briefing(lang)}\n\n*{s.employee_role(lang)}*"

    def page(self, view: SessionView) -> dict:
        """Everything the room shows for ``view``: ``{component: value or gr.update}``, labels in
        the session's language."""
        L = LABELS[view.lang]
        return {
            self.sid: view.id,
            self.setup: gr.update(visible=False),
            self.room: gr.update(visible=True),
            self.header: header_markdown(view),
            self.meter: meter_html(view.level, view.lang),
            self.chat: chat_messages(view),
            self.reply: gr.update(interactive=view.status == "active", value="", label=L["reply"]),
            self.feedback: feedback_text(view),
            self.retry_turn: gr.update(choices=[(f"{L['turn']} {t.number}: {t.reply[:40]}", t.number) for t in view.turns],
                                       value=None, label=L["retry_turn"]),
            self.reflection_box: gr.update(visible=view.status == "stopped" and not view.reflection),
            self.pause: gr.update(value=L["resume"] if view.status == "paused" else L["pause"]),
            self.debrief: render.debrief_markdown(view.debrief) if view.debrief else "",  # its quotes as text
            self.send: gr.update(value=L["send"]), self.end: gr.update(value=L["end"]), self.stop: gr.update(value=L["stop"]),
            self.retry: gr.update(value=L["retry"]), self.show_feedback: gr.update(label=L["show_feedback"]),
            self.debrief_button: gr.update(value=L["debrief"]), self.download_md: gr.update(value=L["md"]),
            self.download_pdf: gr.update(value=L["pdf"]), self.new: gr.update(value=L["new"]),
            self.reflection: gr.update(label=L["reflection"]), self.save_reflection: gr.update(value=L["save"]),
        }

    def empty_page(self) -> dict:
        """The setup form, no session."""
        return {
            self.sid: "", self.setup: gr.update(visible=True), self.room: gr.update(visible=False), self.header: "",
            self.meter: "", self.chat: [], self.reply: gr.update(value=""), self.feedback: "",
            self.retry_turn: gr.update(choices=[], value=None), self.reflection_box: gr.update(visible=False),
            self.reflection_q: "", self.pause: gr.update(value="Pause"), self.debrief: "",
            self.download_md: gr.update(visible=False, link=None), self.download_pdf: gr.update(visible=False, link=None),
        }

    def view(self, sid: str, request: gr.Request | None, touch: bool = True) -> SessionView:
        """The service's view of ``sid`` for the request's user. Raises ``gr.Error`` for no
        session or one the user may not open."""
        if not sid:
            raise gr.Error(message(Refusal("no_session"), "en"))
        try:
            return self.service.view(sid, user_of(request), touch=touch)
        except SessionNotFound as exc:
            raise gr.Error(message(exc, "en")) from exc

    # --- handlers ---------------------------------------------------------------------------

    def on_load(self, request: gr.Request) -> dict:
        """The page for ``?session=<id>`` in the address (a warning and the setup form for a
        session the user may not open), else the setup form."""
        sid = request.query_params.get("session", "") if request else ""
        if sid:
            try:
                return self.page(self.view(sid, request))
            except gr.Error:
                gr.Warning("That session does not exist or is not yours. Start a new conversation.")
        return self.empty_page()

    def on_start(self, scenario_id, difficulty_name, language, assess, mark, request: gr.Request) -> dict:
        """A new session (``mark``: the pass mark in percent, assessment mode only) and its page."""
        try:
            live = self.service.start(scenario_id, difficulty_name, language, mode="assessment" if assess else "practice",
                                      pass_mark=mark / 100 if assess else None, show_feedback=not assess, user=user_of(request))
        except (KeyError, ValueError) as exc:
            raise gr.Error(message(exc, language)) from exc
        return self.page(self.view(live.id, request))

    def on_send(self, sid, text, request: gr.Request) -> Iterator[dict]:
        """The reply checked (a refusal leaves it in the box), shown at once, the customer's line
        streamed into the chat, then the whole page (the status too: the scenario may have
        ended by itself)."""
        view = self.view(sid, request)
        try:
            stream = self.service.respond(sid, text, user=user_of(request))
        except SessionNotFound as exc:
            raise gr.Error(message(exc, view.lang)) from exc
        except Refusal as exc:  # nothing changed: the text stays in the box
            gr.Warning(message(exc, view.lang))
            yield {self.reply: gr.update(value=text)}
            return
        messages = chat_messages(view) + [{"role": "user", "content": render.text(text)}, {"role": "assistant", "content": "…"}]
        yield {self.chat: list(messages), self.reply: gr.update(interactive=False)}  # the reply shows at once
        try:
            for item in stream:
                if isinstance(item, str):
                    messages[-1] = {"role": "assistant", "content": render.text(item)}
                    yield {self.chat: list(messages), self.reply: gr.update(value="", interactive=False)}
        except Refusal as exc:  # another request of this session came first
            gr.Warning(message(exc, view.lang))
            yield {self.chat: chat_messages(self.view(sid, request)), self.reply: gr.update(value=text, interactive=True)}
            return
        except Exception as exc:  # keep the trainee's words in the box
            gr.Warning(f"De klant kon niet antwoorden ({type(exc).__name__}). Je antwoord staat nog in het vak: probeer het opnieuw."
                       if view.lang == "nl" else
                       f"The customer could not answer ({type(exc).__name__}). Your reply is still in the box: try again.")
            yield {self.chat: chat_messages(self.view(sid, request)), self.reply: gr.update(value=text, interactive=True)}
            return
        yield self.page(self.view(sid, request))

    def on_clear(self, sid, request: gr.Request):
        """The chat's bin icon only clears the view: the stored conversation comes straight back."""
        return chat_messages(self.view(sid, request)) if sid else []

    def on_tick(self, sid, show, request: gr.Request):
        """The feedback panel, refreshed (does not count as a use of the session)."""
        if not sid:
            return gr.update()
        try:
            return feedback_text(self.view(sid, request, touch=False), show)
        except gr.Error:
            return gr.update()

    def on_pause(self, sid, request: gr.Request) -> dict:
        """Pause an active session or resume a paused one; the page."""
        view = self.view(sid, request)
        if view.status in ("active", "paused"):
            self.service.set_status(sid, "paused" if view.status == "active" else "active", user=user_of(request))
        return self.page(self.view(sid, request))

    def on_stop(self, sid, request: gr.Request) -> dict:
        """End at once; the page with the reflection question."""
        if not sid:
            return self.empty_page()
        self.view(sid, request)
        self.service.set_status(sid, "stopped", user=user_of(request))
        view = self.view(sid, request)
        return {**self.page(view), self.reflection_box: gr.update(visible=True), self.reflection_q: REFLECTION[view.lang]}

    def on_reflection(self, sid, text, request: gr.Request) -> dict:
        """Store the trainee's reflection and close the question."""
        view = self.view(sid, request)
        self.service.set_status(sid, "stopped", reflection=text.strip(), user=user_of(request))
        gr.Info(LABELS[view.lang]["saved"])
        return {self.reflection_box: gr.update(visible=False)}

    def on_retry(self, sid, number, request: gr.Request) -> dict:
        """Go back to before turn ``number``; the page. Raises ``gr.Error`` (in the session's
        language) without a turn picked or for a turn that does not exist."""
        view = self.view(sid, request)
        try:
            if not number:
                raise Refusal("pick_turn")
            self.service.retry_from(sid, int(number), user=user_of(request))
        except Refusal as exc:
            raise gr.Error(message(exc, view.lang)) from exc
        return self.page(self.view(sid, request))

    def on_debrief(self, sid, end_it: bool, request: gr.Request | None = None) -> Iterator[dict]:
        """Ends the conversation first when ``end_it``; shows that the debrief is being written,
        then the debrief and its download links (offered to this user only, for a few minutes:
        :mod:`actor.web.downloads`; no file on disk)."""
        view = self.view(sid, request)
        user = user_of(request)
        if not view.turns:
            raise gr.Error(message(Refusal("no_turns"), view.lang))
        if end_it and view.status in ("active", "paused"):
            self.service.set_status(sid, "ended", user=user)
        yield {**self.page(self.view(sid, request)), self.debrief: f"_{LABELS[view.lang]['writing']}_"}
        try:
            d = self.service.debrief(sid, user=user)
        except Refusal as exc:
            raise gr.Error(message(exc, view.lang)) from exc
        view = self.view(sid, request)
        md = render.debrief_markdown(d)
        if view.mode == "assessment" and view.pass_mark is not None and d.overall is not None:
            verdict = "passed" if d.overall >= view.pass_mark else "not passed"
            md = f"**Assessment: {verdict}** (score {d.overall:.0%}, pass mark {view.pass_mark:.0%})\n\n" + md
        md_link = self.downloads.offer(md.encode("utf-8"), "debrief.md", user)
        pdf_link = self.downloads.offer(markdown_pdf(md, title="Debrief"), "debrief.pdf", user)
        yield {**self.page(view), self.debrief: md, self.download_md: gr.update(link=md_link, visible=True),
               self.download_pdf: gr.update(link=pdf_link, visible=True)}

    def on_end(self, sid, request: gr.Request) -> Iterator[dict]:
        """The end button: end the conversation, then :meth:`on_debrief`."""
        yield from self.on_debrief(sid, True, request)

    def on_show_debrief(self, sid, request: gr.Request) -> Iterator[dict]:
        """The debrief button: :meth:`on_debrief` without ending the conversation."""
        yield from self.on_debrief(sid, False, request)

    # --- events -----------------------------------------------------------------------------

    def wire(self, demo: gr.Blocks) -> None:
        """Connect the handlers to the components' events."""
        out = self.outputs
        demo.load(self.on_load, None, out)
        self.scenario.change(self.briefing, [self.scenario, self.lang], self.brief)
        self.lang.change(self.briefing, [self.scenario, self.lang], self.brief)
        self.assessment.change(lambda on: gr.update(visible=on), self.assessment, self.pass_mark)
        self.start.click(self.on_start, [self.scenario, self.difficulty, self.lang, self.assessment, self.pass_mark], out).then(
            None, self.sid, None, js=SET_URL_JS)
        streamed = [self.chat, self.reply, self.meter, self.feedback, self.retry_turn]
        for event in (self.send.click, self.reply.submit):
            event(self.on_send, [self.sid, self.reply], out, show_progress_on=streamed)
        self.chat.clear(self.on_clear, self.sid, self.chat)
        self.timer.tick(self.on_tick, [self.sid, self.show_feedback], self.feedback, show_progress="hidden")
        self.show_feedback.change(self.on_tick, [self.sid, self.show_feedback], self.feedback)
        self.pause.click(self.on_pause, self.sid, out)
        self.stop.click(self.on_stop, self.sid, out)
        self.save_reflection.click(self.on_reflection, [self.sid, self.reflection], [self.reflection_box])
        self.retry.click(self.on_retry, [self.sid, self.retry_turn], out)
        self.end.click(self.on_end, self.sid, out)
        self.debrief_button.click(self.on_show_debrief, self.sid, out)
        self.new.click(self.empty_page, None, out).then(
            None, None, None, js="() => { const u = new URL(window.location); u.searchParams.delete('session'); window.history.replaceState(null, '', u); }")


def build_trainee(demo: gr.Blocks, service: RehearsalService, downloads) -> Room:
    """The rehearsal room on ``service``, inside ``demo`` (the caller's open Blocks); returns its
    :class:`Room`. The debrief's downloads are offered through ``downloads``
    (:class:`actor.web.downloads.Downloads`) to the logged-in user only. Chat, feedback and
    debrief text go through :func:`actor.web.render.text`. Every request passes the logged-in
    user to ``service``, which refuses a session the user may not open (while logins are
    required, every session belongs to the user who started it and nobody opens another's,
    also not by guessing an id)."""
    room = Room(service, downloads)
    room.layout()
    room.wire(demo)
    return room
