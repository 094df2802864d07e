"""Model time of one reply's feedback wording on the embedded model, with the trainee idle.

``python benchmarks/wording_time.py [--reply TEXT] [--timeout 600]`` starts a session through
:class:`actor.web.RehearsalService` (counter, hard, Dutch), sends one reply, and then lets the
trainee be idle: prints the seconds from the customer's complete line until the worded feedback
is stored, whether the model's words were kept (``model``) or the rubric's text was used
(``rubric``), and llama.cpp's own prompt and decode rates measured in the same run (the wording
competes only with the prefill of the customer's next prompt here).
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reply", default="Ik moet even in het systeem kijken.")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()

    from actor.config import Settings
    from actor.db import Database
    from actor.session import Workbench
    from actor.web import RehearsalService
    from turn_latency import runtime_rates  # benchmarks/ is the script's own folder

    bench = Workbench.from_settings(Settings())
    bench.warm_up()
    loaded = bench.persona_model.loaded()
    rates = runtime_rates(loaded)
    service = RehearsalService(bench, Database.open(f"sqlite:///{tempfile.mkdtemp()}/wording.db"))
    live = service.start("counter", "hard", "nl")
    for _ in service.respond(live.id, args.reply):
        pass
    start = time.perf_counter()
    while time.perf_counter() - start < args.timeout:
        turn = service.view(live.id, touch=False).turns[0]
        if turn.assessment.wording != "pending":
            print(f"worded {time.perf_counter() - start:.1f} s after the customer's line ({turn.assessment.wording}); "
                  f"runtime {rates[0]:.1f} prompt / {rates[1]:.1f} decode tok/s")
            break
        time.sleep(0.5)
    else:
        print(f"not worded within {args.timeout:.0f} s")
    service.close()


if __name__ == "__main__":
    main()
