"""Agreement between the two labelling passes of the bank: ``python -m evals.judgement.agreement``.

Reads ``evals/judgement/bank/passes/<scenario>-pass1.jsonl`` (full rows, the writer's labels)
and ``<scenario>-pass2.jsonl`` (``id``, ``labels``, ``tone``: a second labeller who saw only the
context and the reply) and prints, per criterion, the share of rows where both passes agree and
Cohen's κ (rows where the criterion applies), the tone agreement (exact and within one), and
the number of rows with any difference (each resolved in ``<scenario>-resolved.jsonl``).

``--check FILE`` validates a pass-2 file against its pass-1 ids and the applicability rule.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from actor.judgement.bank import BANK_DIR, CRITERIA, applies, read_rows
from actor.judgement.measure import cohen_kappa

PASSES = BANK_DIR / "passes"


def load_pass2(path: Path) -> dict[str, dict]:
    """``{id: {"labels": …, "tone": …}}`` of a pass-2 file. Raises ``ValueError`` for bad rows."""
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        raw = json.loads(line)
        if set(raw) - {"id", "labels", "tone", "note"} or set(raw.get("labels", {})) != set(CRITERIA):
            raise ValueError(f"{path}:{n}: expected keys id, labels (the seven criteria), tone")
        if raw["tone"] not in (1, 2, 3, 4, 5) or any(v not in (0, 1, None) for v in raw["labels"].values()):
            raise ValueError(f"{path}:{n}: labels must be 0/1/null and tone 1-5")
        out[raw["id"]] = raw
    return out


def check(path: Path) -> list[str]:
    """Problems of a pass-2 file: ids missing or unknown, n/a where the rule says otherwise."""
    scenario = path.name.split("-pass2")[0]
    first = {r.id: r for r in read_rows(PASSES / f"{scenario}-pass1.jsonl")}
    second = load_pass2(path)
    problems = [f"missing id {i}" for i in first if i not in second] + [f"unknown id {i}" for i in second if i not in first]
    for i, raw in second.items():
        r = first.get(i)
        if r is None:
            continue
        for c in CRITERIA:
            should = applies(c, r.escalation_level, r.aggression_type, r.tactic)
            if should != (raw["labels"][c] is not None):
                problems.append(f"{i}: {c} {'applies' if should else 'does not apply'} (L{r.escalation_level}, {r.aggression_type}, {r.tactic})")
    return problems


def agreement(scenarios: list[str]) -> dict:
    """Per criterion ``{"n", "agreement", "kappa"}`` pooled over ``scenarios``, plus tone and the
    count of rows with any difference."""
    pairs = {c: ([], []) for c in CRITERIA}
    tones, differing, rows = [], 0, 0
    for s in scenarios:
        first = {r.id: r for r in read_rows(PASSES / f"{s}-pass1.jsonl")}
        second = load_pass2(PASSES / f"{s}-pass2.jsonl")
        for i, r in first.items():
            if i not in second:
                continue
            rows += 1
            other = second[i]["labels"]
            differing += any(r.labels[c] != other[c] for c in CRITERIA)
            for c in CRITERIA:
                if r.labels[c] is not None and other[c] is not None:
                    pairs[c][0].append(r.labels[c])
                    pairs[c][1].append(other[c])
            tones.append((r.tone, second[i]["tone"]))
    out = {"rows": rows, "rows_with_a_difference": differing, "criteria": {}}
    for c, (a, b) in pairs.items():
        out["criteria"][c] = {"n": len(a), "agreement": sum(x == y for x, y in zip(a, b)) / len(a) if a else float("nan"),
                              "kappa": cohen_kappa(a, b)}
    out["tone"] = {"exact": sum(x == y for x, y in tones) / len(tones) if tones else float("nan"),
                   "within_one": sum(abs(x - y) <= 1 for x, y in tones) / len(tones) if tones else float("nan")}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.check:
        problems = check(args.check)
        print("\n".join(problems[:50]) or f"{args.check}: valid")
        return 1 if problems else 0
    scenarios = sorted(p.name.split("-pass2")[0] for p in PASSES.glob("*-pass2.jsonl"))
    a = agreement(scenarios)
    print(f"two labelling passes on {a['rows']} rows ({', '.join(scenarios)}); rows with any difference: {a['rows_with_a_difference']}")
    print(f"{'criterion':<22} {'n':>5} {'agree':>6} {'κ':>6}")
    for c, f in a["criteria"].items():
        print(f"{c:<22} {f['n']:>5} {f['agreement']:>6.3f} {f['kappa']:>6.3f}")
    print(f"tone: exact {a['tone']['exact']:.3f}, within one {a['tone']['within_one']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
