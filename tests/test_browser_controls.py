"""The rehearsal room's controls in headless Chromium, on fake models (fast; the embedding model
and the course store are real): assessment mode hides feedback, an over-long reply is refused
with a message and stays in the box, retry from an earlier turn starts a new branch, pause and
resume, and the stop button ends at once and asks the reflection question."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from apprunner import CHROMIUM, Server, chromium_on, open_page

pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]
LINES = ["Nou, en wat gaat u daaraan doen dan?", "Dat hoor ik nu al drie keer, meneer.", "Ik wil gewoon mijn pakket hebben.",
         "Schiet nou eens op, ik heb niet de hele dag.", "Dat is toch niet zo moeilijk?"]
GRADE = json.dumps({"reason": "ok", "evidence": "", "verdict": "pass", "tone": 4, "tip": "Goed zo."})


def test_controls(model_cache_home, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=60000)  # a start or a turn on a busy 2-core machine takes longer than 5 s

    shots = Path(os.environ.get("TEST_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    server = Server(model_cache_home, tmp_path / "app.log", ACTOR_DATABASE_URL=f"sqlite:///{tmp_path}/controls.db",
                    ACTOR_PERSONA__BACKEND="fake", ACTOR_PERSONA__FAKE_RESPONSES=json.dumps(LINES),
                    ACTOR_EVALUATOR__BACKEND="fake", ACTOR_EVALUATOR__FAKE_RESPONSES=json.dumps([GRADE]))
    with chromium_on(server) as browser:
        page = open_page(browser, server.url, 1100, 60_000)
        page.get_by_label("Assessment mode (no feedback during the conversation)").check()
        expect(page.get_by_text("Pass mark (%)")).to_be_visible()
        page.get_by_role("button", name="Start the conversation").click()
        box = page.locator("#reply-box textarea")
        expect(box).to_be_editable()
        expect(page.locator("#feedback-panel")).to_contain_text("toetsmodus is de feedback verborgen")

        too_long = "Ik begrijp u. " * 80  # 1120 characters
        box.fill(too_long)
        page.locator("#send-button").click()
        expect(page.get_by_text("Te lang antwoord").first).to_be_visible()  # in the session's language
        assert box.input_value() == too_long, "the trainee's text must stay in the box"
        page.screenshot(path=str(shots / "c1-too-long.png"), full_page=True)

        users = page.locator('[data-testid="user"]')
        for n, reply in enumerate(["Wat vervelend voor u.", "Ik kijk het even na."], 1):
            box.fill(reply)
            page.locator("#send-button").click()
            expect(users).to_have_count(n)
            expect(box).to_be_editable()
        expect(page.locator('[data-testid="bot"]')).to_have_count(3)

        page.get_by_label("Opnieuw vanaf een eerdere beurt").click()
        page.get_by_role("option", name="beurt 2: Ik kijk het even na.").click()
        page.get_by_role("button", name="Opnieuw vanaf hier").click()
        expect(users).to_have_count(1)
        box.fill("Dat klinkt echt vervelend. Wat is er gebeurd?")
        page.locator("#send-button").click()
        expect(users).to_have_count(2)
        expect(users.nth(1)).to_contain_text("Wat is er gebeurd?")
        page.screenshot(path=str(shots / "c2-retried.png"), full_page=True)

        page.get_by_role("button", name="Toon de nabespreking").click()
        expect(page.locator("#debrief")).to_contain_text("Nabespreking")
        expect(page.get_by_role("link", name="Download nabespreking (PDF)")).to_be_visible()  # a link: /download/<token>

        page.get_by_role("button", name="Pauzeer").click()
        expect(box).not_to_be_editable()
        page.get_by_role("button", name="Hervat").click()
        expect(box).to_be_editable()

        page.get_by_role("button", name="Nu stoppen").click()
        expect(page.get_by_text("What made this moment hard for you?", exact=False).or_(
            page.get_by_text("Wat maakte dit moment lastig voor je?", exact=False))).to_be_visible()
        expect(box).not_to_be_editable()
        expect(page.get_by_text("Je hebt het gesprek gestopt.", exact=True)).to_be_visible()  # the header says the conversation is over
        page.get_by_label("Reflectie").fill("De klant bleef maar doorgaan.")
        page.get_by_role("button", name="Opslaan").click()
        expect(page.get_by_text("Opgeslagen.").first).to_be_visible()
        page.screenshot(path=str(shots / "c3-stopped.png"), full_page=True)

    from actor.db import Database

    db = Database(f"sqlite:///{tmp_path}/controls.db")
    (row,) = db.list_sessions()
    assert (row.mode, row.status, row.reflection) == ("assessment", "stopped", "De klant bleef maar doorgaan.")
    branches = [[t.reply for t in b] for b in db.branches(row.id)]
    assert branches == [["Wat vervelend voor u.", "Ik kijk het even na."],
                        ["Wat vervelend voor u.", "Dat klinkt echt vervelend. Wat is er gebeurd?"]]
