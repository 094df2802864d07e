"""Measuring the judgement on labelled rows: the figures ``python -m evals.judgement`` and
``actor judgement fit`` print (accuracy, Cohen's κ, expected calibration error, move accuracy,
the unsure share), and scenario-held-out fitting (:func:`holdout`)."""

from __future__ import annotations

import statistics
import time

import numpy as np

from actor.judgement.bank import CRITERIA, row_request


def cohen_kappa(a: list[int], b: list[int]) -> float:
    """Cohen's κ of two binary label lists (nan when undefined)."""
    n = len(a)
    if n == 0:
        return float("nan")
    po = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return float("nan") if pe == 1 else (po - pe) / (1 - pe)


def ece(y: list[int], p: list[float], bins: int = 10) -> float:
    """Expected calibration error: Σ over equal-width bins of |mean p − share of passes| × share
    of rows in the bin."""
    if not y:
        return float("nan")
    y_, p_ = np.asarray(y, float), np.asarray(p, float)
    idx = np.minimum((p_ * bins).astype(int), bins - 1)
    return float(sum(abs(p_[idx == b].mean() - y_[idx == b].mean()) * (idx == b).mean() for b in range(bins) if (idx == b).any()))


def figures(rows, assessments, seconds: list[float] | None = None) -> dict:
    """The eval's figures for ``assessments`` (parallel to ``rows``)."""
    out: dict = {"criteria": {}, "move": {}, "unsure": 0.0, "seconds": {}}
    unsure = total = 0
    for cid in CRITERIA:
        ys, ps, vs = [], [], []
        for row, a in zip(rows, assessments):
            label = row.labels[cid]
            r = a.criteria[cid]
            if label is None or r.verdict == "n/a":
                continue
            ys.append(label)
            p = r.p_pass if r.p_pass is not None else (1.0 if r.verdict == "pass" else 0.0 if r.verdict == "fail" else 0.5)
            ps.append(p)
            vs.append(1 if r.verdict == "pass" else 0)
            total += 1
            unsure += bool(r.unsure)
        out["criteria"][cid] = {"n": len(ys), "accuracy": sum(v == y for v, y in zip(vs, ys)) / len(ys) if ys else float("nan"),
                                "kappa": cohen_kappa(vs, ys), "ece": ece(ys, ps)}
    moves = [(a.move, r.move) for r, a in zip(rows, assessments)]  # the judge's own move
    out["move"] = {"n": len(moves), "accuracy": sum(m == t for m, t in moves) / len(moves) if moves else float("nan")}
    out["move_confusions"] = sorted({f"{t}→{m}": sum(1 for mm, tt in moves if (mm, tt) == (m, t)) for m, t in moves if m != t}.items(),
                                    key=lambda kv: -kv[1])[:8]
    out["unsure"] = unsure / total if total else 0.0
    if seconds:
        out["seconds"]["verdicts_p50"] = statistics.median(seconds)
    return out


def print_table(title: str, figs: dict, other: dict | None = None, other_name: str = "") -> None:
    print(f"\n## {title}")
    head = f"{'criterion':<22} {'n':>4} {'acc':>6} {'κ':>6} {'ECE':>6}"
    if other:
        head += f"   | {other_name}: {'acc':>6} {'κ':>6}"
    print(head)
    for cid in CRITERIA:
        f = figs["criteria"][cid]
        line = f"{cid:<22} {f['n']:>4} {f['accuracy']:>6.3f} {f['kappa']:>6.3f} {f['ece']:>6.3f}"
        if other:
            o = other["criteria"][cid]
            line += f"   | {'':>{len(other_name) + 1}} {o['accuracy']:>6.3f} {o['kappa']:>6.3f}"
        print(line)
    line = f"{'move':<22} {figs['move']['n']:>4} {figs['move']['accuracy']:>6.3f}"
    if other:
        line += f"{'':>16}| {'':>{len(other_name) + 1}} {other['move']['accuracy']:>6.3f}"
    print(line)
    print(f"unsure share {figs['unsure']:.3f}; move confusions (label→judged): {figs.get('move_confusions')}")
    if figs["seconds"]:
        print("seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in figs["seconds"].items()))


def judge_rows(judge, rows) -> tuple[list, list[float]]:
    assessments, seconds = [], []
    for row in rows:
        start = time.perf_counter()
        assessments.append(judge.verdicts(row_request(row)))
        seconds.append(time.perf_counter() - start)
    return assessments, seconds


def holdout(rows, featurizer, feature_sets=None, progress=print, extra_train=()) -> tuple[dict, dict[str, dict]]:
    """Pooled and per-scenario figures of heads fitted without the judged scenario.

    ``rows``: bank rows (each scenario is held out once); ``featurizer``: a shared
    :class:`~actor.judgement.features.Featurizer` (its embedding cache is reused across folds);
    ``extra_train``: rows that only ever join the training side (reviewer overrides).
    Returns ``(pooled figures, {scenario: figures})``."""
    from actor.judgement.heads import fit_heads
    from actor.judgement.judge import Judge

    pooled_rows, pooled, per = [], [], {}
    for scenario in sorted({r.scenario for r in rows}):
        train = [r for r in rows if r.scenario != scenario] + [r for r in extra_train if r.scenario != scenario]
        test = [r for r in rows if r.scenario == scenario]
        heads = fit_heads(train, featurizer, "holdout", feature_sets=feature_sets)
        judge = Judge(featurizer.embeddings, heads)
        judge.featurizer = featurizer
        assessments, seconds = judge_rows(judge, test)
        per[scenario] = figures(test, assessments, seconds)
        progress(f"  held out {scenario}: n={len(test)} move {per[scenario]['move']['accuracy']:.3f} "
                 + " ".join(f"{c[:8]} {per[scenario]['criteria'][c]['accuracy']:.2f}" for c in CRITERIA))
        pooled_rows += test
        pooled += [(a, s) for a, s in zip(assessments, seconds)]
    return figures(pooled_rows, [a for a, _ in pooled], [s for _, s in pooled]), per


