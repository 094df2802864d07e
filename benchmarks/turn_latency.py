"""Turn latency on the embedded model: turns 1–10 of a scripted session through the app's stack.

``python benchmarks/turn_latency.py [--think 15] [--lang nl]`` plays ten scripted trainee replies
through :class:`actor.web.RehearsalService` (the same code the web app runs: move judgement,
persona state, streamed and guarded customer line, turn stored in SQLite, full grading queued on
the background worker) and prints per turn:

- ``first``: seconds from sending the reply to the first character of the customer's line shown;
- ``line``: seconds until the customer's line is complete;
- ``grade``: seconds the background grading of that reply took (it waits while a customer line
  is generated, so it runs during the trainee's thinking time);
- ``prompt``: tokens in the customer's prompt (context length after generation minus the tokens
  generated) and ``new``: prompt tokens llama.cpp actually evaluated (the rest came from the
  KV cache of the previous turn);
- the runtime's own counters for the same context and thread count (llama.cpp perf counters):
  prompt and decode tokens/s, and the decode rate seen by the app (tokens of the shown lines over
  the time from first to last token) as a ratio of the runtime's.

``--think``: seconds the scripted trainee reads and "types" before each reply, the first one
included (grading and the prompt prefill overlap it, as with a person). The script keeps the customer at medium-high levels (hard difficulty, mostly
neutral replies) so the session lasts ten turns.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--think", type=float, default=15.0, help="seconds between the customer's line and the next reply")
    parser.add_argument("--lang", choices=["nl", "en"], default="nl")
    parser.add_argument("--difficulty", default="hard")
    args = parser.parse_args()

    import llama_cpp

    from actor.config import Settings
    from actor.db import Database
    from actor.session import Workbench
    from actor.web import RehearsalService

    settings = Settings()
    t = time.perf_counter()
    bench = Workbench.from_settings(settings)
    persona = bench.persona_model.loaded()
    bench.evaluator_model.loaded()
    print(f"start-up (embeddings, retriever, move examples, both model contexts): {time.perf_counter() - t:.1f} s")
    # warm-up, as the app does at start: one short generation per context
    bench.persona_model.invoke("Zeg hallo.", max_tokens=2)
    bench.evaluator_model.invoke("Zeg hallo.", max_tokens=2)
    db = Database.open(f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    service = RehearsalService(bench, db)
    live = service.start("counter", args.difficulty, args.lang)
    llama = persona.llama
    time.sleep(args.think)  # the trainee reads the briefing and the opening line
    rows = []
    print(f"{'turn':>4s} {'level':>5s} {'first s':>8s} {'line s':>7s} {'grade s':>8s} {'prompt':>7s} {'new':>5s} "
          f"{'rt prompt t/s':>13s} {'rt decode t/s':>13s} {'app decode t/s':>14s}  path")
    for n, reply in enumerate(REPLIES[args.lang], 1):
        if live.session.ended:
            print(f"the session ended after turn {n - 1} ({live.session.state.outcome})")
            break
        llama_cpp.llama_perf_context_reset(llama.ctx)
        start = time.perf_counter()
        first = last = None
        chars = ""
        for item in service.respond(live.id, reply):
            if isinstance(item, str):
                last = time.perf_counter()
                first = first or last
                chars = item
            else:
                turn = item
        line_s = time.perf_counter() - start
        perf = llama_cpp.llama_perf_context(llama.ctx)
        generated = perf.n_eval
        rt_prompt = perf.n_p_eval / (perf.t_p_eval_ms / 1000) if perf.t_p_eval_ms else float("nan")
        rt_decode = perf.n_eval / (perf.t_eval_ms / 1000) if perf.t_eval_ms else float("nan")
        shown_tokens = len(llama.tokenize(chars.encode(), add_bos=False)) if chars else 0
        app_decode = (shown_tokens - 1) / (last - first) if first and last and last > first and shown_tokens > 1 else float("nan")
        prompt_tokens = llama.n_tokens - (len(llama.tokenize(turn.answer.text.encode(), add_bos=False)) if turn.answer else 0)
        rows.append({"turn": n, "first": (first or time.perf_counter()) - start, "line": line_s, "prompt": prompt_tokens,
                     "new": perf.n_p_eval, "rt_prompt": rt_prompt, "rt_decode": rt_decode, "app_decode": app_decode,
                     "generated": generated})
        time.sleep(args.think)  # the trainee reads and types; grading runs meanwhile
        grade = turn.seconds.get("grade")
        rows[-1]["grade"] = grade
        print(f"{n:4d} {f'L{turn.state_after.level}':>5s} {rows[-1]['first']:8.2f} {line_s:7.2f} "
              f"{(f'{grade:8.1f}' if grade else '   (busy)')} {prompt_tokens:7d} {perf.n_p_eval:5d} {rt_prompt:13.1f} "
              f"{rt_decode:13.1f} {app_decode:14.1f}  {turn.answer.path if turn.answer else 'end'}", flush=True)
    try:
        service.wait_for_grades(live.id, timeout=60)
    except Exception:
        print("(some gradings were still queued a minute after the last turn)")
    grades = [t.seconds.get("grade") for t in live.session.turns if t.seconds.get("grade")]
    firsts = [r["first"] for r in rows]
    print(f"first token p50 {statistics.median(firsts):.2f} s (turn 8: {rows[7]['first']:.2f} s)" if len(rows) >= 8
          else f"first token p50 {statistics.median(firsts):.2f} s")
    print(f"whole customer line p50 {statistics.median(r['line'] for r in rows):.2f} s; grading p50 "
          f"{statistics.median(grades):.1f} s per reply (background)")
    ratios = [r["app_decode"] / r["rt_decode"] for r in rows if r["app_decode"] == r["app_decode"] and r["rt_decode"]]
    if ratios:
        print(f"decode rate seen by the app / runtime's own: median {statistics.median(ratios):.2f}")
    print(f"prompt tokens per turn: {[r['prompt'] for r in rows]} (max {max(r['prompt'] for r in rows)})")
    service.close()


if __name__ == "__main__":
    main()
