"""Turn latency on the embedded model: a scripted session through the app's stack.

``python benchmarks/turn_latency.py [--think 15 | --think 3] [--lang nl] [--json PATH]`` plays
ten scripted trainee replies through :class:`actor.web.RehearsalService` (the code the web app
runs: verdicts, persona state, the checked customer line, the turn stored in SQLite, the feedback
wording queued in the background, the next prompt's prefill) and prints per turn:

- ``first``: seconds from sending the reply to the first text of the customer's line (its first
  word once checked; see :meth:`actor.persona.actor.Actor.stream`); ``line``: until the line is
  complete;
- ``new`` and ``dec``: prompt tokens the model evaluated and tokens it generated for the customer
  before that first text (counters of the shared context, foreground work only; the rest of the
  prompt came from the KV cache, evaluated while the trainee read and typed);
- ``pre``: prompt tokens the prefill evaluated while the trainee read and typed (before this
  reply); ``moved``: cached tokens moved into place instead of evaluated again (the previous
  turn's examples and stage direction left out, see :func:`actor.llm.local.reuse_shifted`);
- ``x rt``: ``first`` divided by the runtime's own time for those tokens, from llama.cpp's prompt
  and decode rates measured directly before the session (``first_over_runtime``; the same
  ratio at the rates measured after it is ``first_over_runtime_after``: these shared machines
  drift within a run, and the session lies between the two measurements);
- ``verdicts``: seconds until the verdicts are stored (they are computed before the customer
  answers, so they are visible when the line is); ``words``: until the worded feedback is stored
  (background work that gives way to the customer).

``--think``: seconds the scripted trainee reads and types before each reply, the first included:
15 (a person thinking) or 3 (brisk). The targets of the design are printed with the figures of
turn 8. ``--json PATH`` writes every turn's figures, the p50s and the runtime rates. The resident
memory of the process after the session is printed too.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import threading
import time
from pathlib import Path

REPLIES = {
    "nl": ["Ik moet even in het systeem kijken.", "Op welke naam staat het pakket?", "Ik zie het nog niet, een momentje.",
           "Heeft u de ophaalcode bij u?", "Dat is vervelend, ik begrijp dat u het zat bent.", "Ik kijk nog even verder.",
           "Het systeem zegt dat het is afgeleverd.", "Wanneer kreeg u het bericht?", "Ik bel even met het depot.",
           "Het depot neemt niet op, ik probeer het zo nog een keer."],
    "en": ["Let me look it up in the system.", "What name is the parcel under?", "I can't see it yet, one moment.",
           "Do you have the pickup code?", "That's annoying, I understand you're fed up.", "Let me look a bit further.",
           "The system says it was delivered.", "When did you get the message?", "I'll call the depot.",
           "The depot isn't answering, I'll try again in a minute."],
}


def runtime_rates(loaded) -> tuple[float, float]:
    """llama.cpp's own (prompt tok/s, decode tok/s) on the shared context: 64 prompt tokens in one
    batch, then 16 single-token steps, in a slot of its own (the session's KV states are kept)."""
    llama = loaded.llama
    tokens = llama.tokenize(("De klant staat al een half uur aan de balie te wachten. " * 12).encode(), add_bos=False)
    with loaded.scheduler.turn("foreground"):
        loaded.use_slot("calibration")
        llama.reset()
        start = time.perf_counter()
        llama.eval(tokens[:64])
        prompt = 64 / (time.perf_counter() - start)
        start = time.perf_counter()
        for t in tokens[64:80]:
            llama.eval([t])
        decode = 16 / (time.perf_counter() - start)
    return prompt, decode


def rss_mib() -> float:
    """The process's resident memory now (MiB), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--think", type=float, default=15.0, help="seconds between the customer's line and the next reply")
    parser.add_argument("--lang", choices=["nl", "en"], default="nl")
    parser.add_argument("--difficulty", default="hard")
    parser.add_argument("--json", type=Path, help="write the per-turn figures here")
    args = parser.parse_args()

    from actor.config import Settings
    from actor.db import Database
    from actor.session import Workbench
    from actor.web import RehearsalService

    t = time.perf_counter()
    bench = Workbench.from_settings(Settings())
    loaded = bench.persona_model.loaded()
    assert bench.evaluator_model.loaded() is loaded, "both roles share one context"
    bench.warm_up()
    print(f"start-up (embeddings, retriever, heads, the model context): {time.perf_counter() - t:.1f} s")
    before = runtime_rates(loaded)
    service = RehearsalService(bench, Database.open(f"sqlite:///{tempfile.mkdtemp()}/bench.db"))
    live = service.start("counter", args.difficulty, args.lang)
    sid = live.id
    time.sleep(args.think)  # the trainee reads the briefing and the opening line
    rows: list[dict] = []
    worded: dict[int, float] = {}
    starts: dict[int, float] = {}
    stop = threading.Event()

    def watch() -> None:  # when the worded feedback of each turn is stored
        while not stop.is_set():
            for turn in service.view(sid, touch=False).turns:
                if turn.number not in worded and turn.assessment and turn.assessment.wording != "pending":
                    worded[turn.number] = time.perf_counter() - starts.get(turn.number, time.perf_counter())
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    print(f"{'turn':>4s} {'level':>5s} {'first s':>8s} {'line s':>7s} {'new':>4s} {'dec':>4s} {'x rt':>5s} "
          f"{'pre':>4s} {'moved':>5s} {'verdicts s':>10s} {'words s':>8s}  path")
    for n, reply in enumerate(REPLIES[args.lang], 1):
        if service.view(sid, touch=False).status != "active":
            print(f"the session ended after turn {n - 1}")
            break
        before_reply = dict(loaded.counters)  # the previous line, then the prefill while the trainee typed
        loaded.counters.clear()
        start = starts[n] = time.perf_counter()
        first, at_first, turn = None, {}, None
        for item in service.respond(sid, reply):
            if isinstance(item, str) and first is None:
                first, at_first = time.perf_counter() - start, dict(loaded.counters)
            elif not isinstance(item, str):
                turn = item
        line = time.perf_counter() - start
        verdicts = line if turn.assessment and turn.assessment.criteria else float("nan")
        new, dec = at_first.get("foreground_new_prompt_tokens", 0), at_first.get("foreground_generated", 0)
        own = new / before[0] + dec / before[1]
        rows.append({"turn": n, "level": turn.state_after.level, "first_s": first, "line_s": line, "new_prompt_tokens": new,
                     "decoded_tokens": dec, "first_over_runtime": first / own if own else None, "verdicts_s": verdicts,
                     "prefill_tokens": before_reply.get("prefill_new_prompt_tokens", 0),
                     "moved_tokens": before_reply.get("prefill_moved_tokens", 0) + at_first.get("foreground_moved_tokens", 0),
                     "path": turn.answer.path if turn.answer else "end"})
        time.sleep(args.think)  # the trainee reads and types; the wording and the prefill run meanwhile
        r = rows[-1]
        w = worded.get(n)
        print(f"{n:4d} {'L' + str(r['level']):>5s} {first:8.2f} {line:7.2f} {new:4d} {dec:4d} {r['first_over_runtime']:5.2f} "
              f"{r['prefill_tokens']:4d} {r['moved_tokens']:5d} {verdicts:10.2f} {(f'{w:8.1f}' if w else '  (later)')}  {r['path']}", flush=True)
    stop.set()
    after = runtime_rates(loaded)
    for r in rows:
        r["words_s"] = worded.get(r["turn"])
        own_after = r["new_prompt_tokens"] / after[0] + r["decoded_tokens"] / after[1]
        r["first_over_runtime_after"] = r["first_s"] / own_after if own_after else None
    p50 = {k: statistics.median(r[k] for r in rows if r[k] is not None)
           for k in ("first_s", "line_s", "new_prompt_tokens", "decoded_tokens", "first_over_runtime",
                     "first_over_runtime_after", "verdicts_s")}
    words = [r["words_s"] for r in rows if r["words_s"] is not None]
    p50["words_s"] = statistics.median(words) if words else None
    rt = {"prompt_tok_s": (before[0] + after[0]) / 2, "decode_tok_s": (before[1] + after[1]) / 2}
    print(f"\nruntime (llama.cpp directly, same run): prompt {before[0]:.1f} / {after[0]:.1f} tok/s, "
          f"decode {before[1]:.1f} / {after[1]:.1f} tok/s (before / after the session)")
    print("p50: " + ", ".join(f"{k} {v:.2f}" for k, v in p50.items() if v is not None))
    print(f"words visible before the next reply: {sum(1 for r in rows if r['words_s'] and r['words_s'] < r['line_s'] + args.think)}"
          f" of {len(rows)} turns")
    if len(rows) >= 8:
        r = rows[7]
        ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
        print(f"targets at turn 8: new prompt tokens {r['new_prompt_tokens']} ≤ ~50 ({ok(r['new_prompt_tokens'] <= 55)}), "
              f"decoded before the first text {r['decoded_tokens']} ≤ 4 ({ok(r['decoded_tokens'] <= 4)}), "
              f"first text {r['first_s']:.2f} s = {r['first_over_runtime']:.2f} × the runtime's time for those tokens "
              f"(≤ 1.2: {ok(r['first_over_runtime'] <= 1.2)}; {r['first_over_runtime_after']:.2f} × at the rates measured "
              f"after the session); verdicts visible with the line: {ok(r['verdicts_s'] <= r['line_s'])}")
    memory = {"rss_mib": rss_mib(), "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(f"resident memory after the session: {memory['rss_mib']:.0f} MiB (peak {memory['peak_rss_mib']:.0f} MiB)")
    if args.json:
        args.json.write_text(json.dumps({"think": args.think, "turns": rows, "p50": p50, "runtime": rt, **memory}, indent=2))
    service.close()


if __name__ == "__main__":
    main()
