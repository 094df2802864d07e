"""Login, role separation and the review workspace in headless Chromium (fake models; a seeded
database): a trainee sees no review tab and cannot open another trainee's session by its id; a
reviewer searches, sees the dashboard, overrides a verdict with a comment, and finds the
override in the CSV export; a trainer previews a scenario's prompt and an invalid edit is
refused with the error shown and the file unchanged; an A/B run of two versions shows the
actor's figures side by side."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from apprunner import CHROMIUM, REPO, Server, chromium_on
from test_review import seed

pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


def login(browser, url: str, name: str, password: str):
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_label("username").fill(name)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()
    page.get_by_role("tab", name="Rehearse").wait_for()
    return page


def test_login_roles_review_override_and_export(model_cache_home, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=60000)  # a start or a turn on a busy 2-core machine takes longer than 5 s

    from actor.auth import Users
    from actor.db import Database

    shots = Path(os.environ.get("TEST_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp_path}/review.db"
    db = Database.open(url)
    anna_session, bram_session = seed(db)
    users = Users(db)
    users.add("anna", "trainee", "anna-geheim")
    users.add("rita", "reviewer", "rita-geheim")
    users.add("tina", "trainer", "tina-geheim")
    scenario_file = REPO / "prompts" / "scenarios" / "counter.yaml"
    before = scenario_file.read_bytes()
    server = Server(model_cache_home, tmp_path / "app.log", ACTOR_DATABASE_URL=url, ACTOR_PERSONA__BACKEND="fake",
                    ACTOR_EVALUATOR__BACKEND="fake", ACTOR_PERSONA__FAKE_RESPONSES=json.dumps(["Nou?"]))
    with chromium_on(server) as browser:
        anna = login(browser, server.url, "anna", "anna-geheim")
        expect(anna.get_by_text("Logged in as anna (trainee)")).to_be_visible()
        expect(anna.get_by_role("tab", name="Review")).to_have_count(0)
        anna.goto(f"{server.url}?session={bram_session}")  # guessing another trainee's id
        expect(anna.get_by_text("does not exist or is not yours").first).to_be_visible()
        expect(anna.get_by_text("I hear you, let me check the meter readings.")).to_have_count(0)
        anna.screenshot(path=str(shots / "r1-trainee-denied.png"), full_page=True)

        rita = login(browser, server.url, "rita", "rita-geheim")
        rita.get_by_role("tab", name="Review").click()
        rita.locator("#review-search").click()
        table = rita.locator("#review-table")
        expect(table).to_contain_text(anna_session[:8])
        expect(table).to_contain_text(bram_session[:8])
        expect(rita.get_by_text("Pass rate per criterion")).to_be_visible()
        rita.screenshot(path=str(shots / "r2-dashboard.png"), full_page=True)

        rita.locator("#review-session-id textarea, #review-session-id input").first.fill(anna_session)
        rita.get_by_role("button", name="Open").click()
        expect(rita.locator("#review-transcript")).to_contain_text("Rustig aan, mevrouw.")
        rita.get_by_role("spinbutton", name="Turn").fill("1")
        rita.get_by_role("combobox", name="Criterion").click()
        rita.get_by_role("option", name="takes_control").click()
        rita.get_by_label("pass", exact=True).check()
        rita.get_by_label("Why (kept beside the evaluator's verdict)").fill("Ze vroeg daarna wel om de code.")
        rita.get_by_role("button", name="Save override").click()
        expect(rita.locator("#review-transcript")).to_contain_text("takes_control: fail → pass (reviewer rita")
        rita.screenshot(path=str(shots / "r3-override.png"), full_page=True)

        rita.locator("#export-ids textarea, #export-ids input").first.fill(anna_session)
        rita.get_by_role("button", name="Export CSV").click()
        expect(rita.locator("#export-file")).to_contain_text(".csv")
        exported = rita.request.get(server.url + rita.locator("#export-file").get_attribute("href"))
        assert exported.status == 200  # offered to rita only (tests/test_security.py checks the refusals)
        exported_csv = exported.body()
        expect(rita.get_by_role("tab", name="Scenarios & rubric")).to_have_count(0)  # reviewers do not edit

        tina = login(browser, server.url, "tina", "tina-geheim")
        tina.get_by_role("tab", name="Scenarios & rubric").click()
        tina.get_by_role("combobox", name="File").click()
        tina.get_by_role("option", name="scenarios/counter.yaml").click()
        editor = tina.locator("#trainer-editor .cm-content")
        expect(editor).to_contain_text("VlotPost")
        tina.get_by_role("button", name="Preview the customer's prompt").click()
        expect(tina.locator("#trainer-preview")).to_contain_text("Je speelt")
        tina.locator("#trainer-ab").click()  # the file on disk (A) against the editor (B), two scripted trainees
        expect(tina.locator("#trainer-figures")).to_contain_text("in character (shown lines)")
        expect(tina.locator("#trainer-transcripts")).to_contain_text("counter-nl-unskilled")
        tina.screenshot(path=str(shots / "r4-trainer-ab.png"), full_page=True)
        editor.click()
        tina.keyboard.press("Control+Home")
        tina.keyboard.type("mood_swings: 3\n")
        tina.locator("#trainer-save").click()
        expect(tina.locator("#trainer-status")).to_contain_text("nothing was saved")
        expect(tina.locator("#trainer-status")).to_contain_text("mood_swings")
        tina.screenshot(path=str(shots / "r5-trainer-invalid.png"), full_page=True)
    rows = list(csv.DictReader(io.StringIO(exported_csv.decode("utf-8-sig"))))
    assert [(r["session"], r["turn"], r["takes_control_ai"], r["takes_control_final"]) for r in rows][0] == (
        anna_session, "1", "fail", "pass")
    assert db.overrides(anna_session)[0].reviewer == "rita"
    assert scenario_file.read_bytes() == before and db.prompt_versions("scenarios/counter.yaml") == []
