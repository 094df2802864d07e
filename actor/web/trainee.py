"""The trainee's rehearsal room (Gradio Blocks): pick a scenario, rehearse, get a debrief.

All conversation state is in the :class:`~actor.web.service.RehearsalService` and the database;
the page only holds the session id (``gr.State``, per browser tab) and the URL carries it
(``?session=<id>``), so a reload or a server restart resumes the session.
"""

from __future__ import annotations

import html

import gradio as gr

from actor.evaluator import default_rubric
from actor.session import MAX_REPLY_CHARS
from actor.web import render
from actor.web.export import markdown_pdf
from actor.web.service import RehearsalService, SessionNotFound

LEVELS = {
    "nl": ["L0 geïrriteerd", "L1 kritiek op de organisatie", "L2 weigert, daagt uit", "L3 persoonlijke aanval", "L4 dreiging"],
    "en": ["L0 irritated", "L1 criticises the organisation", "L2 refuses, challenges", "L3 personal attack", "L4 threat"],
}
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
ERRORS_NL = {  # the session layer's messages, for a Dutch trainee
    "empty reply": "Leeg antwoord: typ wat je tegen de klant zou zeggen.",
    "reply too long": f"Te lang antwoord (hoogstens {MAX_REPLY_CHARS} tekens): zeg het korter, zoals je het hardop zou zeggen.",
    "the conversation has ended": "Het gesprek is afgelopen.",
    "the conversation is": "Het gesprek is gepauzeerd of afgelopen: hervat het of begin een nieuw gesprek.",
    "the customer is still answering": "De klant is nog aan het antwoorden op je vorige antwoord.",
}


def message(exc: Exception, lang: str) -> str:
    """A refusal from the session layer in the trainee's language."""
    text = str(exc)
    if lang == "nl":
        for prefix, nl in ERRORS_NL.items():
            if text.startswith(prefix):
                return nl
    return text


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


def chat_messages(live) -> list[dict]:
    """The active branch as chat messages: customer = assistant (left), trainee = user (right)."""
    s = live.session
    out = [{"role": "assistant", "content": render.text(s.opening.text)}]
    for t in s.turns:
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


def feedback_markdown(live, lang: str) -> str:
    """Per turn, newest first, in ``lang``: the move, the verdicts of the applicable criteria
    (with the reason of each failed one) and the tip."""
    rubric = default_rubric()
    T = TEXT[lang]
    parts = []
    for t in reversed(live.session.turns):
        head = f"**{T['turn']} {t.number}** — L{t.state_before.level} → L{t.state_after.level}, {T['move']} *{T['moves'][t.move.move]}*"
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


def build_trainee(demo: gr.Blocks, service: RehearsalService, downloads, users=None) -> None:
    """The rehearsal room on ``service``, inside ``demo`` (the caller's open Blocks); the
    debrief's downloads are offered through ``downloads`` (:class:`actor.web.downloads.Downloads`)
    to the logged-in user only. Chat, feedback and debrief text go through
    :func:`actor.web.render.text`. With ``users`` (:class:`actor.auth.Users`) that require a
    login, every session belongs to the logged-in user and nobody opens another's, also not by
    guessing an id."""
    def owner(request: gr.Request | None) -> str | None:
        if users is None or not users.required():
            return None
        return getattr(request, "username", None) or ""
    choices = [(f"{s.title('nl')} / {s.title('en')}", sid) for sid, s in service.bench.scenarios.items()]

    def briefing(scenario_id: str, lang: str) -> str:
        s = service.bench.scenarios[scenario_id]  # read each time: a trainer may have saved a new version
        return f"**{s.title(lang)}** — {s.briefing(lang)}\n\n*{s.employee_role(lang)}*"

    def get_live(sid: str, request: gr.Request | None):
        try:
            return service.get(sid, owner=owner(request))
        except SessionNotFound as exc:
            raise gr.Error("That session does not exist or is not yours.") from exc

    def view(sid: str, request: gr.Request | None = None):
        """Everything the page shows for session ``sid``."""
        live = get_live(sid, request)
        row = service.row(sid)
        s = live.session
        ended = row.status in ("ended", "stopped") or s.ended
        L = LABELS[s.lang]
        header = (f"### {s.scenario.title(s.lang)} · {s.difficulty_name} · {'Nederlands' if s.lang == 'nl' else 'English'}"
                  f"{' · ' + L['assessment'] if row.mode == 'assessment' else ''}\n{s.scenario.briefing(s.lang)}\n\n"
                  f"{L['resume_link']}: `?session={sid}` · {L['status']}: **{row.status}**"
                  + (f" · {L['outcome']}: **{row.outcome or s.state.outcome}**" if (row.outcome or s.state.outcome) else ""))
        return (
            sid,
            gr.update(visible=False),
            gr.update(visible=True),
            header,
            meter_html(s.state.level, s.lang),
            chat_messages(live),
            gr.update(interactive=not ended and row.status == "active", value="", label=L["reply"]),
            feedback_markdown(live, s.lang) if row.show_feedback else f"_{L['hidden']}_",
            gr.update(choices=[(f"{L['turn']} {t.number}: {t.reply[:40]}", t.number) for t in s.turns], value=None,
                      label=L["retry_turn"]),
            gr.update(visible=row.status == "stopped" and not row.reflection),
            gr.update(value=L["resume"] if row.status == "paused" else L["pause"]),
            render.debrief_markdown(row.debrief) if row.debrief else "",  # the stored debrief, its quotes as text
        )

    sid_state = gr.Textbox("", visible=False, elem_id="session-id")  # in the page, so the URL can carry it
    gr.Markdown("# The training actor\n*Oefen een lastig gesprek met een boze klant · rehearse a difficult "
                "conversation with an angry customer.*")
    with gr.Column(visible=True) as setup:
        with gr.Row():
            scenario = gr.Dropdown(choices, value=choices[0][1], label="Scenario")
            difficulty = gr.Radio([("makkelijk · easy", "easy"), ("gemiddeld · medium", "medium"), ("moeilijk · hard", "hard")],
                                  value="medium", label="Moeilijkheid · Difficulty")
            lang = gr.Radio([("Nederlands", "nl"), ("English", "en")], value="nl", label="Taal · Language")
        brief = gr.Markdown(briefing(choices[0][1], "nl"))
        with gr.Row():
            assessment = gr.Checkbox(False, label="Toetsmodus: geen feedback tijdens het gesprek · Assessment mode "
                                                   "(no feedback during the conversation)")
            pass_mark = gr.Slider(0, 100, value=60, step=5, label="Cesuur · Pass mark (%)", visible=False)
        start = gr.Button("Start het gesprek · Start the conversation", variant="primary")
    with gr.Column(visible=False) as room:
        header = gr.Markdown()
        meter = gr.HTML()
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Conversation", height=420, buttons=[], feedback_options=None, latex_delimiters=[])
                reply = gr.Textbox(label=f"Your reply (at most {MAX_REPLY_CHARS} characters; Enter sends)",
                                   max_lines=6, elem_id="reply-box")
                with gr.Row():
                    send = gr.Button("Send", variant="primary", elem_id="send-button")
                    pause = gr.Button("Pause")
                    end = gr.Button("End conversation")
                    stop = gr.Button("Stop now", elem_id="stop-button")
                with gr.Row():
                    retry_turn = gr.Dropdown([], label="Retry from an earlier turn", scale=3)
                    retry = gr.Button("Retry from here", scale=1)
            with gr.Column(scale=2):
                show_feedback = gr.Checkbox(True, label="Show feedback")
                feedback = gr.Markdown(elem_id="feedback-panel", latex_delimiters=[])
        with gr.Group(visible=False) as reflection_box:
            reflection_q = gr.Markdown()
            reflection = gr.Textbox(label="Reflection", lines=3)
            save_reflection = gr.Button("Save")
        debrief_button = gr.Button("Show the debrief")
        debrief = gr.Markdown(elem_id="debrief", latex_delimiters=[])
        with gr.Row():
            download_md = gr.Button("Download debrief (Markdown)", link=None, visible=False)  # links: see on_debrief
            download_pdf = gr.Button("Download debrief (PDF)", link=None, visible=False)
        new = gr.Button("New conversation")
    timer = gr.Timer(2.0)

    page = [sid_state, setup, room, header, meter, chat, reply, feedback, retry_turn, reflection_box, pause, debrief]

    def empty_page():
        return ("", gr.update(visible=True), gr.update(visible=False), "", "", [], gr.update(value=""), "",
                gr.update(choices=[], value=None), gr.update(visible=False), gr.update(value="Pause"), "")

    def on_load(request: gr.Request):
        sid = request.query_params.get("session", "") if request else ""
        if sid:
            try:
                return view(sid, request)
            except gr.Error:
                gr.Warning("That session does not exist or is not yours. Start a new conversation.")
        return empty_page()

    labelled = [send, end, stop, retry, show_feedback, debrief_button, download_md, download_pdf, new, reflection, save_reflection]

    def on_labels(sid, request: gr.Request):
        """The room's buttons and labels in the session's language."""
        try:
            L = LABELS[get_live(sid, request).session.lang] if sid else LABELS["en"]
        except gr.Error:
            L = LABELS["en"]
        return (gr.update(value=L["send"]), gr.update(value=L["end"]), gr.update(value=L["stop"]), gr.update(value=L["retry"]),
                gr.update(label=L["show_feedback"]), gr.update(value=L["debrief"]), gr.update(value=L["md"]),
                gr.update(value=L["pdf"]), gr.update(value=L["new"]),
                gr.update(label=L["reflection"]), gr.update(value=L["save"]))

    demo.load(on_load, None, page).then(on_labels, sid_state, labelled)
    scenario.change(briefing, [scenario, lang], brief)
    lang.change(briefing, [scenario, lang], brief)
    assessment.change(lambda on: gr.update(visible=on), assessment, pass_mark)

    def on_start(scenario_id, difficulty_name, language, assess, mark, request: gr.Request):
        try:
            live = service.start(scenario_id, difficulty_name, language, mode="assessment" if assess else "practice",
                                 pass_mark=mark / 100 if assess else None, show_feedback=not assess,
                                 owner=owner(request))
        except (KeyError, ValueError) as exc:
            raise gr.Error(str(exc)) from exc
        return view(live.id, request)

    start.click(on_start, [scenario, difficulty, lang, assessment, pass_mark], page).then(
        None, sid_state, None, js=SET_URL_JS).then(on_labels, sid_state, labelled)

    def on_send(sid, text, request: gr.Request):
        if not sid:
            raise gr.Error("Start a conversation first.")
        live = get_live(sid, request)
        messages = chat_messages(live) + [{"role": "user", "content": render.text(text)}, {"role": "assistant", "content": "…"}]
        stream = service.respond(sid, text)
        echoed = bool(text.strip())
        if echoed:  # the reply shows at once, not with the customer's first word
            yield messages, gr.update(interactive=False), gr.update(), gr.update(), gr.update()
        try:
            first = next(stream)  # validation happens here: nothing has changed if it fails
        except ValueError as exc:
            gr.Warning(message(exc, live.session.lang))
            restored = (chat_messages(live), gr.update(value=text, interactive=True)) if echoed else (gr.update(), gr.update(value=text))
            yield *restored, gr.update(), gr.update(), gr.update()
            return
        try:
            for item in _chain(first, stream):
                if isinstance(item, str):
                    messages[-1] = {"role": "assistant", "content": render.text(item)}
                    yield messages, gr.update(value="", interactive=False), gr.update(), gr.update(), gr.update()
        except Exception as exc:  # keep the trainee's words in the box
            gr.Warning(f"De klant kon niet antwoorden ({type(exc).__name__}). Je antwoord staat nog in het vak: probeer het opnieuw."
                       if live.session.lang == "nl" else
                       f"The customer could not answer ({type(exc).__name__}). Your reply is still in the box: try again.")
            yield chat_messages(live), gr.update(value=text, interactive=True), gr.update(), gr.update(), gr.update()
            return
        v = view(sid, request)
        yield v[5], v[6], v[4], v[7], v[8]

    send_args = dict(fn=on_send, inputs=[sid_state, reply], outputs=[chat, reply, meter, feedback, retry_turn])
    send.click(**send_args)

    def on_clear(sid, request: gr.Request):
        """The chat's bin icon only clears the view: the stored conversation comes straight back."""
        return chat_messages(get_live(sid, request)) if sid else []

    chat.clear(on_clear, sid_state, chat)
    reply.submit(**send_args)

    def on_tick(sid, show, request: gr.Request):
        if not sid:
            return gr.update()
        try:
            live = get_live(sid, request)
        except gr.Error:
            return gr.update()
        row = service.row(sid)
        if not row.show_feedback:
            return f"_{LABELS[live.session.lang]['hidden']}_"
        return feedback_markdown(live, live.session.lang) if show else "…"

    timer.tick(on_tick, [sid_state, show_feedback], feedback, show_progress="hidden")
    show_feedback.change(on_tick, [sid_state, show_feedback], feedback)

    def on_pause(sid, request: gr.Request):
        get_live(sid, request)
        row = service.row(sid)
        if row.status in ("active", "paused"):
            service.set_status(sid, "paused" if row.status == "active" else "active")
        return view(sid, request)

    pause.click(on_pause, sid_state, page)

    def on_stop(sid, request: gr.Request):
        if sid:
            get_live(sid, request)
            service.set_status(sid, "stopped")
            v = list(view(sid, request))
            v[9] = gr.update(visible=True)
            return (*v, REFLECTION[get_live(sid, request).session.lang])
        return (*empty_page(), "")

    stop.click(on_stop, sid_state, [*page, reflection_q])

    def on_reflection(sid, text, request: gr.Request):
        get_live(sid, request)
        service.set_status(sid, "stopped", reflection=text.strip())
        gr.Info(LABELS[get_live(sid, request).session.lang]["saved"])
        return gr.update(visible=False)

    save_reflection.click(on_reflection, [sid_state, reflection], reflection_box)

    def on_retry(sid, number, request: gr.Request):
        if not number:
            raise gr.Error("Pick the turn you want to answer again.")
        get_live(sid, request)
        service.retry_from(sid, int(number))
        return view(sid, request)

    retry.click(on_retry, [sid_state, retry_turn], page)

    def on_debrief(sid, end_it: bool, request: gr.Request | None = None):
        if not sid:
            raise gr.Error("Start a conversation first.")
        live = get_live(sid, request)
        if not live.session.turns:
            raise gr.Error("Reply at least once before asking for a debrief.")
        if end_it and service.row(sid).status in ("active", "paused"):
            service.set_status(sid, "ended")
        yield (*view(sid, request)[:-1], f"_{LABELS[live.session.lang]['writing']}_", gr.update(), gr.update())
        d = service.debrief(sid)
        row = service.row(sid)
        md = render.debrief_markdown(d)
        if row.mode == "assessment" and row.pass_mark is not None and d.overall is not None:
            verdict = "passed" if d.overall >= row.pass_mark else "not passed"
            md = f"**Assessment: {verdict}** (score {d.overall:.0%}, pass mark {row.pass_mark:.0%})\n\n" + md
        # offered to this user only, for a few minutes (see actor.web.downloads); no file on disk
        me = getattr(request, "username", None)
        md_link = downloads.offer(md.encode("utf-8"), "debrief.md", me)
        pdf_link = downloads.offer(markdown_pdf(md, title="Debrief"), "debrief.pdf", me)
        yield (*view(sid, request)[:-1], md, gr.update(link=md_link, visible=True), gr.update(link=pdf_link, visible=True))

    debrief_outputs = [*page[:-1], debrief, download_md, download_pdf]
    def on_end(sid, request: gr.Request):
        yield from on_debrief(sid, True, request)

    def on_show_debrief(sid, request: gr.Request):
        yield from on_debrief(sid, False, request)

    end.click(on_end, sid_state, debrief_outputs)
    debrief_button.click(on_show_debrief, sid_state, debrief_outputs)
    new.click(empty_page, None, page).then(None, None, None, js="() => { const u = new URL(window.location); u.searchParams.delete('session'); window.history.replaceState(null, '', u); }")


def _chain(first, rest):
    yield first
    yield from rest
