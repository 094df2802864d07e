"""Build the bank files from the two labelling passes: ``python -m evals.judgement.resolve``.

For each scenario with ``passes/<scenario>-pass1.jsonl`` and ``-pass2.jsonl``: a row whose
labels differ between the passes takes the labels of ``-resolved.jsonl`` (the third reading;
its ``note`` is kept); the move is derived again from the final labels; the tone is the mean of
the two passes, rounded half up. Writes ``bank/<scenario>.jsonl``. Raises ``SystemExit`` when a
differing row has no resolution.
"""

from __future__ import annotations

import json
import math
import sys

from actor.judgement.bank import CRITERIA, BankRow, derive_move, read_rows
from evals.judgement.agreement import PASSES, load_pass2


def resolve(scenario: str) -> list[BankRow]:
    first = read_rows(PASSES / f"{scenario}-pass1.jsonl")
    second = load_pass2(PASSES / f"{scenario}-pass2.jsonl")
    path = PASSES / f"{scenario}-resolved.jsonl"
    resolved = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                raw = json.loads(line)
                resolved[raw["id"]] = raw
    out = []
    for r in first:
        other = second[r.id]
        labels, note = dict(r.labels), None
        if any(r.labels[c] != other["labels"][c] for c in CRITERIA):
            if r.id not in resolved:
                raise SystemExit(f"{scenario}: {r.id} differs between the passes and has no resolution in {path.name}")
            labels, note = {c: resolved[r.id]["labels"][c] for c in CRITERIA}, resolved[r.id].get("note")
        tone = math.floor((r.tone + other["tone"]) / 2 + 0.5)
        out.append(BankRow.model_validate({**r.model_dump(), "labels": labels, "move": derive_move(labels), "tone": tone, "note": note}))
    return out


def main() -> int:
    for p in sorted(PASSES.glob("*-pass2.jsonl")):
        scenario = p.name.split("-pass2")[0]
        rows = resolve(scenario)
        target = PASSES.parent / f"{scenario}.jsonl"
        target.write_text("".join(r.model_dump_json(exclude_none=False) + "\n" for r in rows), encoding="utf-8")
        print(f"{target.name}: {len(rows)} rows ({sum(r.note is not None for r in rows)} resolved by the third reading)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
