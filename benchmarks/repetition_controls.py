"""Do llama.cpp's repetition controls reduce the customer's repeats and echoes? (not a test)

llama-cpp-python 0.3 exposes ``repeat_penalty``, ``presence_penalty`` and ``frequency_penalty``
(all applied to the last 64 *generated* tokens: the sampler starts empty for each call, so
earlier turns in the prompt are not penalised); the DRY sampler exists in its low-level
bindings but not in ``create_chat_completion``. This script measures what the exposed ones do
where it matters: scripted sessions are played once to get realistic histories (or read from
``python -m evals.actor --out FILE`` transcripts with ``--transcripts FILE``), then at every turn
``--drafts`` drafts are generated per setting (fixed seeds, the same prompt) and checked with the
actor's own checks. Prints, per setting, the share of drafts rejected as a repeat of an
earlier customer line, as an echo of a trainee line, for any reason, and the mean seconds per
draft.

    flock /tmp/model.lock .venv/bin/python benchmarks/repetition_controls.py --transcripts /tmp/t.json --drafts 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from actor.config import Settings
from actor.persona.actor import Utterance, pick_tactic
from actor.persona.state import PersonaState
from actor.persona.guard import tidy_line
from actor.session import Workbench
from actor.trial import SCRIPTS, load_script, play

SETTINGS = {  # label: (llama.cpp sampling arguments, with the actor's steering)
    "default (repeat 1.1)": ({}, False),
    "presence 0.6": ({"presence_penalty": 0.6}, False),
    "steering (word-start repeat penalty, L2+ banned words)": ({}, True),
    "steering, run penalty ×2": ({"repeat_strength": 2.0}, True),
    "steering, run penalty ×4": ({"repeat_strength": 4.0}, True),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripts", nargs="+", default=["counter-nl-unskilled"])
    parser.add_argument("--drafts", type=int, default=2, help="drafts per turn and setting")
    parser.add_argument("--difficulty", default="medium")
    parser.add_argument("--transcripts", type=Path, help="histories from `python -m evals.actor --out FILE` instead of playing")
    parser.add_argument("--only", default="", help="only transcripts whose name contains this (e.g. -nl-)")
    parser.add_argument("--exclude", default=None, help="leave out transcripts whose name contains this (e.g. phone-)")
    parser.add_argument("--settings", nargs="+", help="labels of SETTINGS to run (default: all)")
    parser.add_argument("--show", action="store_true", help="print every draft with its reasons (to read them)")
    args = parser.parse_args(argv)

    bench = Workbench.from_settings(Settings())
    if bench.problems:
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: evals/ is not installed
        from actor.embeddings import E5Embeddings
        from evals.baseline.move import LegacyMoves

        bench.judge = LegacyMoves(E5Embeddings())
    cases = []  # (actor, history, state)
    if args.transcripts:
        for name, data in json.loads(args.transcripts.read_text(encoding="utf-8")).items():
            if args.only not in name or (args.exclude and args.exclude in name):
                continue
            actor = bench.new_session(data["scenario"], data["difficulty"], data["lang"]).actor
            history = [Utterance("customer", data["opening"]["text"])]
            for t in data["turns"]:
                history.append(Utterance("employee", t["reply"]))
                state = PersonaState(**t["state_after"])
                if not state.ended:
                    cases.append((actor, list(history), state))
                if t["answer"]:
                    history.append(Utterance("customer", t["answer"]["text"]))
    for name in [] if args.transcripts else args.scripts:
        scenario_id, lang, _ = name.split("-")
        session = play(bench, scenario_id, lang, args.difficulty, load_script(SCRIPTS / f"{name}.yaml"))
        history = [Utterance("customer", session.opening.text)]
        for t in session.turns:
            history.append(Utterance("employee", t.reply))
            if not t.state_after.ended:
                cases.append((session.actor, list(history), t.state_after))
            if t.answer:
                history.append(Utterance("customer", t.answer.text))
    print(f"{len(cases)} turns; {args.drafts} drafts per turn and setting")
    labels = [label for label in SETTINGS if not args.settings or any(x in label for x in args.settings)]
    counts = {label: {"repeat": 0, "echo": 0, "any": 0, "n": 0} for label in labels}
    seconds: dict[str, list[float]] = {label: [] for label in labels}
    for actor, history, state in cases:  # every setting drafts from the same prompt, evaluated once
        tactic = pick_tactic(state)
        changed = actor.stage_direction(history, state)
        messages = actor.messages(history, state, tactic, actor.examples(tactic, state), changed)
        for label in labels:
            sampling, steer = SETTINGS[label]
            steering = actor.steering(history, changed, state.level) if steer else {}
            for seed in range(args.drafts):
                start = time.perf_counter()
                raw = actor.draft(messages, seed=1000 + seed, **sampling, **steering)
                seconds[label].append(time.perf_counter() - start)
                reasons = actor.check(tidy_line(raw), raw, history, state.level)
                c = counts[label]
                c["n"] += 1
                c["repeat"] += "repeats an earlier line" in reasons
                c["echo"] += "echoes the employee" in reasons
                c["any"] += bool(reasons)
                if args.show:
                    print(f"  {label[:24]:24s} L{state.level} {tidy_line(raw)!r} {reasons or ''}", flush=True)
    for label in labels:
        c, n = counts[label], max(counts[label]["n"], 1)
        print(f"{label:56s} repeats {c['repeat'] / n:5.1%}  echoes {c['echo'] / n:5.1%}  rejected {c['any'] / n:5.1%}  "
              f"{statistics.mean(seconds[label] or [0]):.2f} s/draft  (n={c['n']})", flush=True)


if __name__ == "__main__":
    main()
