"""How good is the judgement? ``python -m evals.judgement``.

Parts (``--part``, comma-separated; default ``holdout,signals,gold``):

- ``holdout``: scenario-held-out figures on the bank (``evals/judgement/bank/*.jsonl``): for each
  of the four scenarios, heads are fitted on the other three (feature set and regularisation
  chosen inside those three, :func:`actor.judgement.heads.fit_head`) and judge the fourth; the
  table pools the four held-out predictions.
- ``signals``: what each signal adds, on the same splits: the rule checks alone; heads on rules
  + level/type/tactic without embeddings; the full heads.
- ``gold``: the shipped heads (``actor/judgement/heads.json``, fitted on the whole bank, never on
  this file) on ``--gold`` (default ``../shared/data/gold/dev.jsonl``; any JSONL in that format).
- ``old``: the previous grader (the chat model asked per criterion) and move judge on the same
  ``--gold`` rows, side by side (minutes per reply on the embedded model).
- ``wording``: the feedback's words for the first ``--wording-n`` rows of ``--gold``, as the app
  makes them: the reasons from the rubric; the better phrasing a worked example of the bank
  (:mod:`actor.judgement.tips`) when one fits, else written by the chat model, else the
  rubric's example (``--no-bank-tips``: the chat model for every row). Seconds per reply, the
  tip's source per row, share of reasons and tips in the session's language, reasons that
  contradict their verdict (must be 0), and every tip printed for reading.
- ``politeness``: Spearman ρ of the tone head with the Stanford Politeness human scores on the
  fixed sample of ``evals.evaluator`` (seed 0), beside the human ceiling.

Per criterion: n (rows where it applies), accuracy (a verdict is p(pass) ≥ 0.5; unsure rows
count at the side they lean to), Cohen's κ, ECE (10 equal-width bins of p(pass)); the move
(:func:`actor.judgement.bank.derive_move` on the verdicts vs on the labels); the share of
applicable verdicts in the unsure band; median seconds per reply for verdicts and wording.
``--old-json PATH`` reuses the old grader's figures from an earlier ``--part old --json`` run
(they take minutes per reply). ``--json PATH`` writes ``{"criteria": {id: {"n","accuracy","kappa","ece"}}, "move": {"n",
"accuracy"}, "unsure", "seconds": {"verdicts_p50","wording_p50"}}`` for ``--gold`` (and the
same shape under ``"holdout"``, ``"old"``, ``"wording"`` and ``"signals"`` when those ran).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


from actor.evaluator import GradeRequest
from actor.judgement.bank import BANK_DIR, CRITERIA, derive_move, load_bank, policy_text, read_rows, row_request
from actor.judgement.measure import figures, holdout, judge_rows, print_table

REPO = Path(__file__).resolve().parents[2]
DEFAULT_GOLD = REPO.parent / "shared" / "data" / "gold" / "dev.jsonl"


def rules_only(rows) -> dict:
    """The deterministic findings alone: a rule failure sign fails the criterion, else pass."""
    from actor.evaluator import rules
    from actor.evaluator.assessment import CriterionResult, TurnAssessment

    out = []
    for row in rows:
        found = {f.criterion for f in rules.findings(row.trainee, policy_text(row.scenario, row.lang))}
        crit = {c: CriterionResult(reason="", verdict="n/a" if row.labels[c] is None else ("fail" if c in found else "pass"))
                for c in CRITERIA}
        move = derive_move({c: None if r.verdict == "n/a" else int(r.verdict == "pass") for c, r in crit.items()})
        out.append(TurnAssessment(criteria=crit, tip="", move=move, rubric_sha256="", prompt_sha256="", model_id=""))
    return figures(rows, out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", default="holdout,signals,gold")
    ap.add_argument("--no-bank-tips", action="store_true", help="with --part wording: the chat model writes every better phrasing")
    ap.add_argument("--holdout-json", type=Path, default=None, help="with --part signals alone: the full heads' figures from an earlier --json run")
    ap.add_argument("--bank", type=Path, default=BANK_DIR)
    ap.add_argument("--gold", type=Path, default=DEFAULT_GOLD)
    ap.add_argument("--heads", type=Path, default=None, help="heads artefact (default: the shipped one)")
    ap.add_argument("--wording-n", type=int, default=10)
    ap.add_argument("--politeness-n", type=int, default=300)
    ap.add_argument("--checks-n", type=int, default=26, help="rows of --gold for the model's check probabilities")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--old-json", type=Path, default=None, help="print the old grader's figures from an earlier --part old --json run")
    args = ap.parse_args(argv)
    parts = set(args.part.split(","))

    from actor.embeddings import E5Embeddings
    from actor.judgement.features import Featurizer
    from actor.judgement.heads import DEFAULT_HEADS
    from actor.judgement.judge import Judge, load_heads

    embeddings = E5Embeddings()
    result: dict = {}
    if "holdout" in parts:
        rows, sha = load_bank(args.bank)
        print(f"bank: {len(rows)} rows, sha256 {sha[:12]}; scenarios held out one at a time")
        from actor.config import Settings

        featurizer = Featurizer(embeddings, Path(Settings().home) / "judgement" / "embeddings-e5-small.npz")
        pooled, per = holdout(rows, featurizer)
        featurizer.save_cache()
        result["holdout"] = {**pooled, "per_scenario": per}
        print_table("scenario-held-out (bank; heads never saw the judged scenario)", pooled)
    if "signals" in parts:
        rows, _ = load_bank(args.bank)
        from actor.config import Settings

        featurizer = Featurizer(embeddings, Path(Settings().home) / "judgement" / "embeddings-e5-small.npz")
        full = result.get("holdout") or (json.loads(args.holdout_json.read_text())["holdout"] if args.holdout_json else None)
        signals = {"rules alone": rules_only(rows)}
        signals["heads: rules + level/type/tactic"] = holdout(rows, featurizer, {"rules": ("rules", "context")}, progress=lambda m: None)[0]
        if full:
            signals["heads: + e5 embeddings (full)"] = full
        result["signals"] = signals
        print("\n## what each signal adds (scenario-held-out accuracy)")
        print(f"{'signals':<36} " + " ".join(f"{c[:10]:>10}" for c in CRITERIA) + f" {'move':>6}")
        for name, f in signals.items():
            print(f"{name:<36} " + " ".join(f"{f['criteria'][c]['accuracy']:>10.3f}" for c in CRITERIA) + f" {f['move']['accuracy']:>6.3f}")
    gold_rows = read_rows(args.gold) if ({"gold", "old", "wording"} & parts) and args.gold.is_file() else []
    if {"gold", "old", "wording"} & parts and not gold_rows:
        print(f"\nno gold file at {args.gold}: gold parts skipped")
    heads, problem = load_heads(args.heads or DEFAULT_HEADS)
    if problem:
        print(problem)
    if "gold" in parts and gold_rows and heads:
        judge = Judge(embeddings, heads)
        assessments, seconds = judge_rows(judge, gold_rows)
        result.update(figures(gold_rows, assessments, seconds))
        result["gold_assessments"] = assessments
        print_table(f"{args.gold.name} (never fitted on; heads fitted on the whole bank)", result)
    if args.old_json and args.old_json.is_file():  # figures of an earlier `--part old` run on the same file
        result["old"] = json.loads(args.old_json.read_text(encoding="utf-8"))["old"]
        if "criteria" in result:
            print_table(f"{args.gold.name}: new judgement vs the old grader (from {args.old_json})", result, result["old"], "old")
    if "old" in parts and gold_rows:
        result["old"] = old_grader(gold_rows, embeddings)
        if "criteria" in result:
            print_table(f"{args.gold.name}: new judgement vs the old grader", result, result["old"], "old")
        else:
            print_table(f"{args.gold.name}: old grader", result["old"])
    if "wording" in parts and gold_rows and heads:
        from actor.judgement.tips import BankTips

        tips = None if args.no_bank_tips else BankTips(load_bank()[0])
        result["wording"] = wording(gold_rows[: args.wording_n], Judge(embeddings, heads, tips=tips))
        if "seconds" in result:
            result["seconds"]["wording_p50"] = result["wording"]["seconds_p50"]
    if "checks" in parts and gold_rows and heads:
        result["checks"] = checks(gold_rows, Judge(embeddings, heads), args.checks_n)
    if "politeness" in parts and heads:
        result["politeness"] = politeness(Judge(embeddings, heads), args.politeness_n)
    if args.json:
        out = {k: v for k, v in result.items() if k != "gold_assessments"}
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False, default=float), encoding="utf-8")
        print(f"\nwritten: {args.json}")
    return result


def checks(rows, judge, n: int) -> dict:
    """The embedded model's calibrated check probabilities (actor.judgement.checks), thresholded
    at 0.5, against the heads on the same rows (nothing fitted on them): accuracy per criterion
    and seconds per reply."""
    from actor.config import Settings
    from actor.judgement.checks import CheckScorer
    from actor.llm import chat_model

    scorer = CheckScorer(chat_model("evaluator", Settings()))
    rows = rows[:n]
    hits = {c: [0, 0, 0] for c in CRITERIA}  # model right, heads right, n
    seconds = []
    for row in rows:
        req = row_request(row)
        start = time.perf_counter()
        probs = scorer.score(req)
        seconds.append(time.perf_counter() - start)
        a = judge.verdicts(req)
        for cid, p in probs.items():
            if row.labels[cid] is None:
                continue
            hits[cid][0] += int((p >= 0.5) == bool(row.labels[cid]))
            hits[cid][1] += int((a.criteria[cid].verdict == "pass") == bool(row.labels[cid]))
            hits[cid][2] += 1
    print(f"\n## the model's check probabilities vs the heads on {len(rows)} rows of the gold file (p50 {statistics.median(seconds):.1f} s per reply)")
    print(f"{'criterion':<22} {'n':>4} {'model':>6} {'heads':>6}")
    out = {"n": len(rows), "seconds_p50": statistics.median(seconds), "criteria": {}}
    for cid, (m, h, k) in hits.items():
        if k:
            print(f"{cid:<22} {k:>4} {m / k:>6.3f} {h / k:>6.3f}")
            out["criteria"][cid] = {"n": k, "model_accuracy": m / k, "heads_accuracy": h / k}
    return out


def old_grader(rows, embeddings) -> dict:
    """The previous grader (chat model per criterion, rules after) and the previous move judge."""
    from actor.config import Settings
    from evals.baseline.grader import Grader
    from evals.baseline.move import MoveJudge
    from actor.llm import chat_model, model_id

    settings = Settings()
    grader = Grader(chat_model("evaluator", settings), model_id("evaluator", settings))
    movejudge = MoveJudge(embeddings)
    assessments, seconds, moves = [], [], []
    for i, row in enumerate(rows, 1):
        start = time.perf_counter()
        a = grader.grade(row_request(row))
        seconds.append(time.perf_counter() - start)
        assessments.append(a)
        moves.append(movejudge.judge(row_request(row)).move)
        print(f"  old grader {i}/{len(rows)}: {seconds[-1]:.1f} s", flush=True)
    figs = figures(rows, assessments, seconds)
    figs["move"] = {"n": len(rows), "accuracy": sum(m == r.move for m, r in zip(moves, rows)) / len(rows)}
    return figs


def wording(rows, judge) -> dict:
    """The feedback of ``rows``: reasons from the rubric, the better phrasing from the chat model
    (checks as in :mod:`actor.judgement.wording`); prints each and the share of phrasings kept."""
    from actor.config import Settings
    from actor.judgement.wording import Writer, contradicts, language_of
    from actor.llm import chat_model

    judge.writer = Writer(chat_model("evaluator", Settings()))
    from collections import Counter

    seconds, reasons, in_lang, tips, tips_in_lang, model_words, contra = [], 0, 0, 0, 0, 0, 0
    sources: Counter = Counter()
    for row in rows:
        req = row_request(row)
        a = judge.verdicts(req)
        start = time.perf_counter()
        w = judge.word(req, a)
        seconds.append(time.perf_counter() - start)
        model_words += w.wording == "model"
        sources[w.wording if w.tip else "none (nothing failed)"] += 1
        for cid, r in w.criteria.items():
            if r.verdict == "fail" and not r.unsure and r.reason:
                reasons += 1
                in_lang += language_of(r.reason) == row.lang
                contra += contradicts(r.reason, "fail", row.lang)
        if w.tip:
            tips += 1
            tips_in_lang += language_of(w.tip) == row.lang
        print(f"  [{row.id}] {w.wording} {seconds[-1]:.1f} s | tip: {w.tip[:100]}", flush=True)
        for cid, r in w.criteria.items():
            if r.verdict == "fail" and not r.unsure:
                print(f"      ✗ {cid}: {r.reason[:140]} (quote: {r.evidence[:60]!r})")
    figs = {"n": len(rows), "seconds_p50": statistics.median(seconds) if seconds else float("nan"),
            "reasons_in_language": in_lang / reasons if reasons else float("nan"),
            "tips_in_language": tips_in_lang / tips if tips else float("nan"),
            "all_model_words": model_words / len(rows) if rows else float("nan"), "contradictions": contra,
            "tip_sources": dict(sources)}
    print(f"\n## wording on {len(rows)} rows: p50 {figs['seconds_p50']:.1f} s per reply; reasons in the session's language "
          f"{figs['reasons_in_language']:.2f}; tips {figs['tips_in_language']:.2f}; tip sources "
          + ", ".join(f"{k} {v}" for k, v in sources.most_common()) + f"; contradictions shown {contra}")
    return figs


def politeness(judge, n: int) -> dict:
    """Spearman ρ of the tone head with the Stanford Politeness scores: the same fixed sample
    (seed 0) and human ceiling as ``python -m evals.evaluator --part politeness``."""
    import csv
    import random

    from evals.evaluator.__main__ import spearman

    path = REPO.parent / "shared" / "data" / "external" / "stanford_politeness" / "wikipedia.annotated.csv"
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    sample = random.Random(0).sample(rows, n)
    tones = [judge.verdicts(GradeRequest(lang="en", customer_line="", reply=r["Request"], level=0)).tone or 3.0 for r in sample]
    rho = spearman(tones, [float(r["Normalized Score"]) for r in sample])
    raters = [[float(r[f"Score{k}"]) for k in range(1, 6)] for r in sample]
    ceiling = statistics.fmean(
        spearman([r[k] for r in raters], [statistics.fmean(r[:k] + r[k + 1:]) for r in raters]) for k in range(5))
    print(f"\n## politeness: tone head ρ {rho:+.3f} on {len(sample)} rows (human ceiling {ceiling:+.3f})")
    return {"n": len(sample), "rho": rho, "human_ceiling": ceiling}


if __name__ == "__main__":
    main()
