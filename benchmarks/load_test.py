"""Load test: concurrent rehearsal sessions through the app's stack against an OpenAI-compatible stub.

``python benchmarks/load_test.py [--sessions 50] [--turns 5] [--latency 0.2]`` starts
:class:`openai_stub.OpenAIStub` (``benchmarks/openai_stub.py``: real HTTP on loopback, streaming, a fixed
latency before the first byte of every completion) and points both roles at it, then runs
``--sessions`` threads at once, each a trainee that starts a session and sends ``--turns``
replies (pauses of 0.5–1.5 × ``--think`` seconds, as people do not reply in lockstep) through :class:`actor.web.RehearsalService`: the code the
web app runs per turn (move judgement with the real embedding model, persona state, retrieval
of playbook lines from the real Chroma store, the customer's line streamed over HTTP and
guarded, the turn stored in SQLite, grading queued on background workers). Gradio's own
request handling is not part of the measurement.

Prints: errors, p50/p95 of the turn time (reply sent → customer's line complete), the stub's
share of it (latency × persona calls in that turn) and the app's overhead as a ratio of it,
the time to the first streamed character, and how the background grading kept up.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import tempfile
import threading
import time

LINES = itertools.count()
CUSTOMER = [  # distinct lines, so the role guard's repeat check does not reject them
    "Ik sta hier nu al een halfuur en niemand weet waar mijn pakket is.",
    "Waarom duurt dit zo lang, ik heb wel wat beters te doen.",
    "Ik wil gewoon mijn jas, en wel nu, anders dien ik een klacht in.",
    "Dat zei uw collega vorige week ook al, en toen gebeurde er niks.",
    "Hoe moeilijk kan het zijn om een doos uit de kast te pakken?",
    "Ik heb er een vrije middag voor opgenomen, weet u dat?",
    "Dan wil ik uw leidinggevende spreken, en snel graag.",
    "Jullie app zegt al zes dagen dat het klaarligt, dus leg dat maar eens uit.",
    "Ik ga dit op Google zetten, dat beloof ik u.",
    "Nee, daar heb ik niks aan, ik wil een oplossing.",
    "U kijkt alsof het u allemaal niks kan schelen.",
    "Volgende week ben ik op reis, dus het moet vandaag.",
]


def fill(schema: dict):
    """A value that fits ``schema`` (the subset of JSON schema the evaluator uses)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {k: fill(v) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [fill(schema.get("items", {}))] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return max(schema.get("minimum", 3), 3) if schema.get("maximum", 5) >= 3 else schema.get("minimum", 1)
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return True
    return "goed gedaan"


def stub_reply(body: dict) -> str:
    """JSON that fits a constrained request; otherwise a different customer line every call."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return json.dumps(fill(fmt["json_schema"]["schema"]))
    n = next(LINES)
    return CUSTOMER[n % len(CUSTOMER)]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.2, help="stub seconds before the first byte")
    parser.add_argument("--think", type=float, default=8.0,
                        help="mean seconds between a customer line and the next reply (each pause drawn from 0.5–1.5 × this)")
    parser.add_argument("--grading-workers", type=int, default=8)
    args = parser.parse_args()

    from openai_stub import OpenAIStub  # benchmarks/openai_stub.py, beside this script

    with OpenAIStub(reply=stub_reply, latency=args.latency) as stub:
        os.environ.update({"ACTOR_PERSONA__BACKEND": "openai", "ACTOR_EVALUATOR__BACKEND": "openai",
                           "ACTOR_OPENAI_BASE_URL": stub.base_url, "ACTOR_OPENAI_API_KEY": "stub",
                           "ACTOR_OPENAI_MODEL": "stub-model"})
        from actor.config import Settings
        from actor.db import Database
        from actor.session import Workbench
        from actor.web import RehearsalService

        settings = Settings()
        bench = Workbench.from_settings(settings)
        service = RehearsalService(bench, Database.open(f"sqlite:///{tempfile.mkdtemp()}/load.db"), args.grading_workers)
        turns: list[dict] = []
        errors: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(args.sessions)
        replies = ["Wat vervelend, wat is er gebeurd?", "Op welke naam staat het?", "Ik kijk het voor u na.",
                   "Dat begrijp ik, ik zoek het uit.", "Mag ik uw ophaalcode?"]

        def trainee(i: int) -> None:
            pauses = random.Random(i)  # people do not reply in lockstep
            try:
                live = service.start(["counter", "phone", "office", "intimidation"][i % 4], "hard", "nl")
            except Exception as exc:
                with lock:
                    errors.append(f"start: {type(exc).__name__}: {exc}")
                return
            barrier.wait()
            for n in range(args.turns):
                if live.session.ended:
                    break
                time.sleep(args.think * pauses.uniform(0.5, 1.5))
                start = time.perf_counter()
                first = None
                try:
                    for item in service.respond(live.id, replies[n % len(replies)] + f" ({i}.{n})"):
                        if isinstance(item, str) and first is None:
                            first = time.perf_counter() - start
                        elif not isinstance(item, str):
                            turn = item
                    seconds = time.perf_counter() - start
                    calls = 1 + len(turn.answer.rejected) if turn.answer else 0
                    with lock:
                        turns.append({"seconds": seconds, "first": first, "calls": calls,
                                      "path": turn.answer.path if turn.answer else "end"})
                except Exception as exc:
                    with lock:
                        errors.append(f"turn: {type(exc).__name__}: {exc}")

        start = time.perf_counter()
        threads = [threading.Thread(target=trainee, args=(i,)) for i in range(args.sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        grading_start = time.perf_counter()
        for live in list(service._live.values()):
            service.wait_for_grades(live.id, timeout=600)
        grading_tail = time.perf_counter() - grading_start
        graded = [t.assessment for live in service._live.values() for t in live.session.turns]
        service.close()

    times = [t["seconds"] for t in turns]
    stub_share = [args.latency * t["calls"] for t in turns if t["calls"]]
    overhead = [(t["seconds"] - args.latency * t["calls"]) / (args.latency * t["calls"]) for t in turns if t["calls"]]
    firsts = [t["first"] for t in turns if t["first"]]
    print(f"{args.sessions} concurrent sessions × {args.turns} turns, stub latency {args.latency * 1000:.0f} ms, think {args.think} s; "
          f"wall {wall:.1f} s")
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print(f"turns: {len(turns)}; paths: { {p: sum(t['path'] == p for t in turns) for p in {t['path'] for t in turns}} }")
    print(f"turn time p50 {statistics.median(times) * 1000:.0f} ms, p95 {pct(times, 0.95) * 1000:.0f} ms; "
          f"stub share p50 {statistics.median(stub_share) * 1000:.0f} ms")
    print(f"app overhead / stub latency: p50 {statistics.median(overhead):.1%}, p95 {pct(overhead, 0.95):.1%}")
    print(f"first streamed character p50 {statistics.median(firsts) * 1000:.0f} ms, p95 {pct(firsts, 0.95) * 1000:.0f} ms")
    print(f"grading: {sum(a is not None for a in graded)} of {len(graded)} turns graded "
          f"({sum(a is not None and a.status == 'graded' for a in graded)} by the model), "
          f"{grading_tail:.1f} s after the last turn to finish the queue")
    rss = next(int(x.split()[1]) / 1024 for x in open("/proc/self/status") if x.startswith("VmRSS:"))
    print(f"resident memory with {args.sessions} sessions held: {rss:.0f} MiB "
          f"({len(service._live)} live in the service)")


if __name__ == "__main__":
    main()
