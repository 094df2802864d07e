"""The trainee's app in headless Chromium (Debian's ``chromium``, driven by Playwright) on the
embedded model: a 4-turn session with a streamed customer, the feedback panel, a reload that
finds the session, a SIGKILL of the server mid-session and a restart that loses no turn, and
the debrief with its downloads. Screenshots go to ``$TEST_SCREENSHOTS`` (default: the test's
temporary folder)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from apprunner import CHROMIUM, Server, chromium_on, open_page
REPLIES = [
    "Drie keer voor niks hier staan, dat is echt balen. Wat is er de vorige keren gebeurd?",
    "Tja, dat is niet mijn probleem, meneer. Volgende keer beter opletten.",
    "Sorry, dat was niet netjes van mij. Mag ik uw ophaalcode zien, dan zoek ik het nu voor u uit.",
    "Mag ik ook even uw legitimatie zien? Dan kijk ik meteen in de volledige scangeschiedenis.",
]
pytestmark = [pytest.mark.real_model, pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")]


def test_a_full_session_in_the_browser_survives_reload_and_a_killed_server(model_cache_home, tmp_path, monkeypatch):
    from playwright.sync_api import expect

    expect.set_options(timeout=240000)  # a start or a turn on a busy 2-core machine takes longer than 5 s

    shots = Path(os.environ.get("TEST_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    server = Server(model_cache_home, tmp_path / "app.log")
    with chromium_on(server) as browser:
        page = open_page(browser, server.url, 1100, 240_000)
        page.get_by_role("button", name="Start the conversation").click()
        box = page.locator("#reply-box textarea")
        expect(box).to_be_editable()
        bot = page.locator('[data-testid="bot"]')
        expect(bot).to_have_count(1)
        opening = bot.first.inner_text()
        assert "pakket" in opening.lower()
        page.wait_for_function("() => location.search.includes('session=')")
        session_url = page.url
        page.screenshot(path=str(shots / "1-opening.png"), full_page=True)

        partials_seen = []
        for n, reply in enumerate(REPLIES, 1):
            box.fill(reply)
            page.locator("#send-button").click()
            seen: list[str] = []
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:  # watch what the customer's line shows until it is complete
                texts = bot.all_inner_texts()
                if len(texts) > n and texts[n].strip() not in ("", "…") and (not seen or seen[-1] != texts[n]):
                    seen.append(texts[n])
                if len(texts) > n and box.is_editable() and box.input_value() == "":
                    break
                time.sleep(0.05)
            final = bot.nth(n).inner_text()
            assert final.strip() and final not in (opening,), f"turn {n}: no customer line"
            partials_seen.append(all(final.startswith(t.rstrip("…").strip()) for t in seen))  # nothing taken back
            page.screenshot(path=str(shots / f"2-turn{n}.png"), full_page=True)
        assert all(ok for ok in partials_seen), "a customer line was shown and then replaced"
        expect(page.locator('[data-testid="user"]')).to_have_count(4)
        level = int(page.locator(".meter").get_attribute("data-level"))
        assert 0 <= level <= 4

        panel = page.locator("#feedback-panel")
        expect(panel).to_contain_text("Beurt 4")  # the session is Dutch
        expect(panel).not_to_contain_text("toelichting volgt", timeout=600_000)  # all four worded in the background
        assert panel.inner_text().count("✓") + panel.inner_text().count("✗") >= 8
        page.screenshot(path=str(shots / "3-feedback.png"), full_page=True)

        page.goto(session_url)  # reload: the session is found by its link
        expect(page.locator('[data-testid="user"]')).to_have_count(4)
        page.screenshot(path=str(shots / "4-reloaded.png"), full_page=True)

        server.kill()  # mid-session: the conversation has not ended
        server.start()
        page.close()
        page = browser.new_page(viewport={"width": 1280, "height": 1100})  # the link opened anew
        page.set_default_timeout(240_000)
        page.goto(session_url, wait_until="domcontentloaded")
        expect(page.locator('[data-testid="user"]')).to_have_count(4)
        assert [t.strip() for t in page.locator('[data-testid="user"]').all_inner_texts()] == REPLIES
        page.screenshot(path=str(shots / "5-after-restart.png"), full_page=True)

        page.get_by_role("button", name="Gesprek afronden").click()  # the room speaks the session's language
        debrief = page.locator("#debrief")
        expect(debrief).to_contain_text("Nabespreking", timeout=600_000)  # the session is Dutch
        expect(page.get_by_role("link", name="Download nabespreking (PDF)")).to_be_visible()  # a link: /download/<token>
        page.screenshot(path=str(shots / "6-debrief.png"), full_page=True)
