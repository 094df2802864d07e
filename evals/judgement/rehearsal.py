"""A Dutch rehearsal in headless Chromium as a trainee plays it: ``python -m evals.judgement.rehearsal``.

Starts ``app.py`` on the configured models (the embedded one by default), opens the counter
scenario in Dutch (``--difficulty``, default hard), and types five replies at a human pace (``--think`` seconds from
the customer's complete line to sending, typing included). Per turn it prints: seconds from
sending to the verdicts visible in the feedback panel, to the customer's line complete, to the
worded feedback visible, and whether that came before the next reply was sent; then every
customer line and the feedback panel's text, so a reader can judge what the trainee saw.
Screenshots go to ``--shots`` (default ``screenshots/rehearsal``). Needs Debian's ``chromium``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPLIES = [
    "Dus u bent hier nu voor de derde keer voor hetzelfde pakket, en u hebt er uw lunchpauze voor opgeofferd. Dat is echt balen. Mag ik uw ophaalcode even zien?",
    "Ik zie in de volledige scangeschiedenis dat het pakket op de bezorgdag naar VlotPost-punt Molenweg is gebracht, omdat wij vol zaten. Dat stond niet in uw app.",
    "Geld terug kan ik hier niet geven, dat loopt via de webwinkel. Wat ik wel kan: het pakket kosteloos laten doorsturen, of u haalt het vandaag nog op bij Molenweg.",
    "Ik snap dat u daar geen zin in hebt. Als ik het nu voor twaalf uur aanvraag, ligt het morgen na drie uur hier klaar. Zal ik dat doen?",
    "Prima, dan vraag ik het nu aan en verleng ik ook de bewaartermijn, zodat het niet teruggaat. U krijgt het referentienummer per mail.",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--think", type=float, default=15.0, help="seconds from the customer's line to sending (typing included)")
    ap.add_argument("--shots", type=Path, default=REPO / "screenshots" / "rehearsal")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--difficulty", default="hard", choices=("easy", "medium", "hard"))
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO / "tests"))
    from apprunner import CHROMIUM, Server, chromium_on, open_page
    from playwright.sync_api import expect

    if not CHROMIUM:
        print("no chromium on the PATH (apt-get install chromium)")
        return 2
    args.shots.mkdir(parents=True, exist_ok=True)
    home = Path(os.environ.get("ACTOR_HOME", "")) if os.environ.get("ACTOR_HOME") else Path(tempfile.mkdtemp())
    server = Server(home, Path(tempfile.mkdtemp()) / "app.log")
    rows = []
    with chromium_on(server) as browser:
        page = open_page(browser, server.url, 1300, 300_000)
        page.get_by_text({"easy": "makkelijk · easy", "medium": "gemiddeld · medium", "hard": "moeilijk · hard"}[args.difficulty]).click()
        page.get_by_role("button", name="Start the conversation").click()
        box = page.locator("#reply-box textarea")
        expect(box).to_be_editable()
        bot = page.locator('[data-testid="bot"]')
        expect(bot).to_have_count(1)
        panel = page.locator("#feedback-panel")
        worded: dict[int, float] = {}

        def watch_words() -> None:
            """Note the moment each turn's feedback is worded (its panel part lost "toelichting volgt")."""
            for part in panel.inner_text().split("Beurt ")[1:]:
                num = int(part.split()[0]) if part.split() and part.split()[0].isdigit() else None
                if num is not None and num not in worded and "toelichting volgt" not in part:
                    worded[num] = time.monotonic()

        def pause(seconds: float) -> None:  # the trainee reads and thinks; the panel is watched meanwhile
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                watch_words()
                time.sleep(0.2)

        ready = time.monotonic()
        for n, reply in enumerate(REPLIES, 1):
            delay_ms = max(20, int((args.think * 1000 * 0.6) / len(reply)))
            wait = args.think - delay_ms * len(reply) / 1000 - (time.monotonic() - ready)
            if wait > 0:
                pause(wait)  # reading and thinking
            box.press_sequentially(reply, delay=delay_ms)
            sent = time.monotonic()
            page.locator("#send-button").click()
            verdicts = line = None
            while time.monotonic() - sent < 300:
                text = panel.inner_text()
                if verdicts is None and f"Beurt {n}" in text and any(m in text for m in "✓✗?"):
                    verdicts = time.monotonic() - sent
                texts = bot.all_inner_texts()
                if line is None and len(texts) > n and box.is_editable() and box.input_value() == "":
                    line = time.monotonic() - sent
                watch_words()
                if verdicts is not None and line is not None:
                    break
                if verdicts is not None and len(texts) <= n and time.monotonic() - sent > verdicts + 20 \
                        and box.input_value() == "":
                    break  # no customer line: the scenario ended with this reply
                time.sleep(0.05)
            ready = time.monotonic()
            page.screenshot(path=str(args.shots / f"turn{n}.png"), full_page=True)
            rows.append({"turn": n, "verdicts_s": verdicts, "line_s": line, "sent_at": sent})
            if line is None:
                print(f"turn {n}: the customer did not answer (the scenario ended); stopping")
                break
        # the words of turns still pending: watch until the last one is worded (or 5 min)
        start = time.monotonic()
        while time.monotonic() - start < 300 and len(worded) < len(rows):
            watch_words()
            time.sleep(0.2)
        page.screenshot(path=str(args.shots / "feedback-final.png"), full_page=True)
        customer = [t.strip() for t in bot.all_inner_texts()]
        feedback = panel.inner_text()
    for r in rows:
        w = worded.get(r["turn"])
        r["wording_s"] = (w - r["sent_at"]) if w else None
        nxt = next((x["sent_at"] for x in rows if x["turn"] == r["turn"] + 1), None)
        r["worded_before_next_reply"] = bool(w and nxt and w < nxt) if nxt else None
        del r["sent_at"]
    print(f"{'turn':>4} {'verdicts s':>10} {'line s':>7} {'words s':>8} {'words before next reply':>24}")
    for r in rows:
        f = lambda v: f"{v:.1f}" if v is not None else "-"
        print(f"{r['turn']:>4} {f(r['verdicts_s']):>10} {f(r['line_s']):>7} {f(r['wording_s']):>8} {str(r['worded_before_next_reply']):>24}")
    print("\ncustomer lines:\n" + "\n".join(f"- {c}" for c in customer))
    print("\nfeedback panel:\n" + feedback)
    if args.json:
        args.json.write_text(json.dumps({"turns": rows, "customer": customer, "feedback": feedback}, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
