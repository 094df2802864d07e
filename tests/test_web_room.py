"""The rehearsal room's handlers, called directly (no browser) on the fake-model service: every
handler returns ``{component: value}`` dicts, a refusal is shown in the session's language and
leaves the reply in the box, and a conversation that ends by itself updates the header and
closes the chat with a note without a reload."""

from __future__ import annotations

from dataclasses import replace

import gradio as gr
import pytest

import actor.session
from actor.auth import Users
from actor.db import Database
from actor.web import RehearsalService
from actor.web.downloads import Downloads
from actor.web.trainee import ENDINGS, Room, build_trainee, ending_note, header_markdown
from test_service import ACK, NEUTRAL, bench


@pytest.fixture
def room(tmp_path):
    db = Database.open(f"sqlite:///{tmp_path}/room.db")
    service = RehearsalService(bench(["Nou, dat werd tijd.", "En verder?", "Hm."]), db)
    with gr.Blocks() as demo:
        r = build_trainee(demo, service, Downloads(Users(db)))
    yield r
    service.close()


@pytest.fixture
def warnings(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(gr, "Warning", lambda text, *a, **k: shown.append(text))
    return shown


def start(room: Room, lang: str = "nl") -> dict:
    return room.on_start("counter", "easy", lang, False, 60, None)


def test_handlers_address_their_outputs_by_component(room):
    page = start(room)
    assert set(page) <= set(room.outputs) and room.header in page and room.chat in page
    sid = page[room.sid]
    assert "status: **active**" in page[room.header] and page[room.chat][0]["role"] == "assistant"
    items = list(room.on_send(sid, ACK, None))
    assert items[0] == {room.chat: items[0][room.chat], room.reply: items[0][room.reply]}  # the reply shows at once
    assert [m["role"] for m in items[0][room.chat][-2:]] == ["user", "assistant"] and items[0][room.chat][-1]["content"] == "…"
    streamed = items[1:-1]
    assert streamed and all(set(i) == {room.chat, room.reply} for i in streamed)
    final = items[-1]
    assert set(final) <= set(room.outputs) and final[room.chat][-1]["content"] == "Nou, dat werd tijd."
    assert final[room.retry_turn]["choices"] == [("beurt 1: " + ACK[:40], 1)] and "Beurt 1" in final[room.feedback]


def test_a_refusal_is_shown_in_the_sessions_language_and_the_text_stays(room, warnings):
    sid = start(room)[room.sid]
    too_long = "Ik begrijp u. " * 80
    items = list(room.on_send(sid, too_long, None))
    assert items == [{room.reply: items[0][room.reply]}] and items[0][room.reply]["value"] == too_long  # no echo, nothing else
    assert warnings == [f"Te lang antwoord ({len(too_long.strip())} tekens; hoogstens 1000): zeg het korter, zoals je het hardop zou zeggen."]
    sid_en = start(room, "en")[room.sid]
    list(room.on_send(sid_en, "   ", None))
    assert warnings[-1] == "empty reply: type what you would say to the customer"
    room.on_pause(sid, None)
    list(room.on_send(sid, ACK, None))
    assert warnings[-1] == "Het gesprek is gepauzeerd: hervat het om verder te gaan."
    assert room.service.view(sid).turns == ()
    with pytest.raises(gr.Error, match="Kies de beurt"):
        room.on_retry(sid, None, None)


def test_a_conversation_that_ends_by_itself_updates_the_header_and_closes_the_chat(room, monkeypatch, warnings):
    sid = start(room)[room.sid]
    list(room.on_send(sid, NEUTRAL, None))
    real = actor.session.next_state
    monkeypatch.setattr(actor.session, "next_state", lambda *a, **k: replace(real(*a, **k), outcome="resolved"))
    final = list(room.on_send(sid, ACK, None))[-1]
    assert "status: **ended**" in final[room.header] and "uitkomst: **resolved**" in final[room.header]
    assert f"**{ENDINGS['nl']['resolved']}**" in final[room.header]  # said in the header, not in the customer's bubble
    assert final[room.chat][-1]["role"] == "assistant" and ENDINGS["nl"]["resolved"] not in final[room.chat][-1]["content"]
    assert all(m["role"] in ("user", "assistant") for m in final[room.chat])  # Gradio's chat hides system messages
    assert final[room.reply]["interactive"] is False
    assert room.service.row(sid).status == "ended"
    assert list(room.on_send(sid, ACK, None)) == [{room.reply: {"__type__": "update", "value": ACK}}]
    assert warnings[-1].startswith("Het gesprek is afgelopen")


def test_the_header_closes_with_a_note_in_the_sessions_language(room):
    sid = start(room, "en")[room.sid]
    view = room.service.view(sid)
    assert ending_note(view) is None and ENDINGS["en"][None] not in header_markdown(view)
    stopped = room.on_stop(sid, None)
    assert "**You stopped the conversation.**" in stopped[room.header]
    assert all(m["role"] in ("user", "assistant") for m in stopped[room.chat])
    assert stopped[room.reflection_box]["visible"]
    for outcome, note in ENDINGS["nl"].items():
        if outcome != "stopped":
            assert ending_note(replace(view, lang="nl", status="ended", outcome=outcome)) == note
    assert ending_note(replace(view, status="ended", outcome="some_new_outcome")) == ENDINGS["en"][None]
