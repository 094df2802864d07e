"""Meta-evaluation of the evaluator against human labels (``python -m evals.evaluator``).

Parts (``--part``, default all):

- ``gold``: per-criterion accuracy and Cohen's κ on ``shared/data/gold/dev.jsonl`` (hand-labelled
  trainee replies, nl + en). A criterion the model could not grade counts as wrong.
- ``politeness``: Spearman ρ between the evaluator's tone judgement (1–5, ``prompts/evaluator/
  tone.yaml``) and the human ``Normalized Score`` on a fixed random sample (seed 0) of
  ``--politeness-n`` rows of the Stanford Politeness corpus (Wikipedia requests; Danescu-Niculescu-
  Mizil et al., ACL 2013, CC BY 4.0). The human ceiling printed beside it is one rater against
  the mean of the other four, averaged over the five raters, on the same rows.
- ``annomi``: AUROC of session scores for high- versus low-quality motivational-interviewing
  transcripts (AnnoMI; Wu et al., ICASSP 2022; public domain). Sampling: all low-quality
  transcripts and as many high-quality ones (seed 0), capped by ``--annomi-sessions`` per class;
  in each, the therapist utterances that answer a client utterance and have at least 8 words,
  ``--annomi-turns`` of them evenly spaced; each is graded at level L0, frustration, with the
  client's utterance as the customer line; the session score is the mean turn score.
- ``move``: accuracy of the move judgement (:class:`~evals.baseline.move.MoveJudge`: wording rules,
  then the nearest example replies; it drives the customer's state before the full grading)
  against the move the gold labels imply (:func:`~actor.evaluator.classify_move` on the human verdicts), with the
  confusion pairs and the median time per judgement.
- ``repeat``: agreement of the per-criterion verdicts over ``--repeats`` runs on the gold set.

Paths: ``--shared`` points at the shared data folder (default ``../shared`` beside the repo).
Figures are printed; ``--json`` also writes them to a file.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import time
from pathlib import Path

from actor.config import Settings
from actor.evaluator import CRITERIA, GradeRequest, classify_move
from evals.baseline.grader import Grader, ToneJudge
from evals.baseline.move import MoveJudge
from actor.judgement.measure import cohen_kappa
from actor.llm import chat_model, model_id

REPO = Path(__file__).resolve().parents[2]
GOLD_TYPES = {
    "frustratie": "frustration", "frustration": "frustration",
    "instrumenteel": "instrumental", "instrumental": "instrumental",
    "witteboorden": "white_collar", "white-collar": "white_collar",
}
GOLD_SCENARIOS = {
    "balie-pakket": "counter", "counter-refund": "counter",
    "telefoon-factuur": "phone", "phone-contract": "phone",
    "kantoor-witteboorden": "office", "office-whitecollar": "office",
}


def ranks(values: list[float]) -> list[float]:
    """Average ranks (1-based), ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's ρ (Pearson on average ranks)."""
    rx, ry = ranks(x), ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sx = sum((a - mx) ** 2 for a in rx) ** 0.5
    sy = sum((b - my) ** 2 for b in ry) ** 0.5
    return cov / (sx * sy) if sx and sy else float("nan")


def auroc(pos: list[float], neg: list[float]) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count half."""
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def policy_facts(settings: Settings, scenario: str, lang: str, query: str) -> list[str]:
    """The two most relevant policy chunks of a scenario (empty when the store is not ingested)."""
    from actor.embeddings import E5Embeddings
    from actor.knowledge import CourseRetriever

    try:
        hits = CourseRetriever(settings, E5Embeddings()).query(query, k=2, lang=lang, kind="policy", scenario=scenario)
    except Exception:
        return []
    return [h.text.split("\n\n", 1)[-1] for h in hits]


def gold_requests(shared: Path, settings: Settings) -> list[tuple[dict, GradeRequest]]:
    rows = [json.loads(line) for line in (shared / "data" / "gold" / "dev.jsonl").read_text().splitlines() if line.strip()]
    out = []
    for row in rows:
        scenario = GOLD_SCENARIOS.get(row["scenario"], "")
        out.append((row, GradeRequest(
            lang=row["lang"], customer_line=row["customer"], reply=row["trainee"], level=row["escalation_level"],
            aggression_type=GOLD_TYPES[row["aggression_type"]], scenario=scenario,
            policy=policy_facts(settings, scenario, row["lang"], row["customer"] + " " + row["trainee"]) if scenario else [],
        )))
    return out


def run_gold(grader: Grader, items, label: str = "gold", dump: Path | None = None) -> dict[str, dict[str, str | None]]:
    predictions: dict[str, dict[str, str | None]] = {}
    for i, (row, req) in enumerate(items, 1):
        start = time.perf_counter()
        a = grader.grade(req)
        predictions[row["id"]] = a.verdicts()
        if dump:
            with open(dump, "a", encoding="utf-8") as f:
                f.write(json.dumps({"run": label, "id": row["id"], "assessment": a.model_dump()}, ensure_ascii=False) + "\n")
        print(f"  [{label} {i}/{len(items)}] {row['id']} {time.perf_counter() - start:.1f} s {a.status}", flush=True)
    return predictions


def report_gold(items, predictions) -> dict:
    print("gold: per-criterion accuracy and Cohen's kappa (n = applicable rows)")
    figures = {}
    for cid in CRITERIA:
        human, model = [], []
        for row, _ in items:
            h = row["labels"].get(cid)
            if h is None:
                continue
            human.append(int(h))
            v = predictions[row["id"]].get(cid)
            model.append(1 if v == "pass" else 0 if v == "fail" else 1 - int(h))  # ungraded counts as wrong
        acc = sum(a == b for a, b in zip(human, model)) / len(human)
        kappa = cohen_kappa(human, model)
        figures[cid] = {"n": len(human), "accuracy": acc, "kappa": kappa}
        print(f"  {cid:22s} n={len(human):3d}  accuracy {acc:.2f}  kappa {kappa:+.2f}")
    return figures


def run_politeness(settings: Settings, shared: Path, n: int) -> dict:
    rows = list(csv.DictReader(open(shared / "data" / "external" / "stanford_politeness" / "wikipedia.annotated.csv", encoding="utf-8")))
    sample = random.Random(0).sample(rows, n)
    judge = ToneJudge(chat_model("evaluator", settings))
    tones, gold, failed = [], [], 0
    for i, row in enumerate(sample, 1):
        try:
            _, tone = judge.rate(row["Request"])
        except ValueError:
            failed += 1
            continue
        tones.append(tone)
        gold.append(float(row["Normalized Score"]))
        if i % 25 == 0:
            print(f"  [politeness {i}/{n}] running rho {spearman(tones, gold):+.3f}", flush=True)
    rho = spearman(tones, gold)
    raters = [[float(r[f"Score{k}"]) for k in range(1, 6)] for r in sample]
    ceiling = statistics.fmean(
        spearman([r[k] for r in raters], [statistics.fmean(r[:k] + r[k + 1:]) for r in raters]) for k in range(5)
    )
    print(f"politeness: Spearman rho {rho:+.3f} on {len(tones)} rows ({failed} unanswered); "
          f"human ceiling (one rater vs mean of four) {ceiling:+.3f}")
    return {"rho": rho, "n": len(tones), "failed": failed, "human_ceiling": ceiling}


def annomi_sessions(shared: Path, per_class: int, turns: int) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """transcript id → (quality, [(client line, therapist reply), …]) per the sampling above."""
    rows = list(csv.DictReader(open(shared / "data" / "external" / "annomi" / "AnnoMI-simple.csv", encoding="utf-8")))
    by_t: dict[str, list[dict]] = {}
    for r in rows:
        by_t.setdefault(r["transcript_id"], []).append(r)
    quality = {t: rs[0]["mi_quality"] for t, rs in by_t.items()}
    rng = random.Random(0)
    chosen = []
    for q in ("low", "high"):
        ids = sorted((t for t in by_t if quality[t] == q), key=int)
        chosen += rng.sample(ids, min(per_class, len(ids)))
    out = {}
    for t in chosen:
        rs = sorted(by_t[t], key=lambda r: int(r["utterance_id"]))
        pairs = [(rs[i - 1]["utterance_text"], rs[i]["utterance_text"]) for i in range(1, len(rs))
                 if rs[i]["interlocutor"] == "therapist" and rs[i - 1]["interlocutor"] == "client"
                 and len(rs[i]["utterance_text"].split()) >= 8]
        if not pairs:
            continue
        step = max(1, len(pairs) // turns)
        out[t] = (quality[t], pairs[::step][:turns])
    return out


def run_annomi(grader: Grader, shared: Path, per_class: int, turns: int) -> dict:
    sessions = annomi_sessions(shared, per_class, turns)
    scores = {"high": [], "low": []}
    for i, (t, (q, pairs)) in enumerate(sessions.items(), 1):
        turn_scores = []
        for client, therapist in pairs:
            a = grader.grade(GradeRequest(lang="en", customer_line=client, reply=therapist, level=0,
                                          aggression_type="frustration", scenario="a counselling conversation"))
            if a.score is not None:
                turn_scores.append(a.score)
        if turn_scores:
            scores[q].append(statistics.fmean(turn_scores))
        print(f"  [annomi {i}/{len(sessions)}] transcript {t} ({q}) score {statistics.fmean(turn_scores) if turn_scores else float('nan'):.2f}", flush=True)
    value = auroc(scores["high"], scores["low"])
    print(f"annomi: AUROC {value:.3f} (high {len(scores['high'])} sessions, low {len(scores['low'])}, {turns} turns each)")
    return {"auroc": value, "high": len(scores["high"]), "low": len(scores["low"]), "turns": turns}


def gold_move(row: dict) -> str:
    """The move the human labels imply (1 pass, 0 fail, null not applicable)."""
    names = {1: "pass", 0: "fail", None: "n/a"}
    return classify_move({cid: names[v] for cid, v in row["labels"].items()})


def run_move(judge: MoveJudge, items) -> dict:
    """Accuracy of the move judgement against the gold-implied move; prints confusions."""
    hits, confusions, seconds = 0, {}, []
    for row, req in items:
        got = judge.judge(req)
        want = gold_move(row)
        seconds.append(got.seconds)
        hits += got.move == want
        if got.move != want:
            confusions[f"{want}->{got.move}"] = confusions.get(f"{want}->{got.move}", 0) + 1
        print(f"  {row['id']:8s} gold {want:16s} judged {got.move:16s} ({got.source}, {got.seconds:.1f} s)", flush=True)
    out = {"n": len(items), "accuracy": hits / len(items), "confusions": confusions, "median_seconds": statistics.median(seconds)}
    print(f"move: accuracy {out['accuracy']:.3f} on {len(items)} gold replies; median {out['median_seconds']:.1f} s; "
          f"confusions {confusions}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", action="append", choices=["gold", "move", "politeness", "annomi", "repeat"])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--politeness-n", type=int, default=300)
    parser.add_argument("--annomi-sessions", type=int, default=12, help="per quality class")
    parser.add_argument("--annomi-turns", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, help="only the first N gold rows (for a quicker repeat check)")
    parser.add_argument("--mode", choices=["per_criterion", "joint"], default="per_criterion", help="grading mode")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--dump", type=Path, help="append every gold assessment here (JSONL)")
    args = parser.parse_args(argv)
    parts = args.part or ["gold", "move", "politeness", "annomi", "repeat"]

    settings = Settings()
    grader = Grader(chat_model("evaluator", settings), model_id("evaluator", settings), mode=args.mode)
    print(f"evaluator model: {grader.model_id}; mode {args.mode}; rubric {grader.rubric.sha256[:12]}; prompt {grader.prompt.sha256[:12]}")
    figures: dict = {"model": grader.model_id}
    start = time.perf_counter()
    items = gold_requests(args.shared, settings) if {"gold", "move", "repeat"} & set(parts) else []
    items = items[: args.limit] if args.limit else items
    runs = []
    if "gold" in parts:
        runs.append(run_gold(grader, items, dump=args.dump))
        figures["gold"] = report_gold(items, runs[0])
    if "move" in parts:
        from actor.embeddings import E5Embeddings

        figures["move"] = run_move(MoveJudge(E5Embeddings()), items)
    if "politeness" in parts:
        figures["politeness"] = run_politeness(settings, args.shared, args.politeness_n)
    if "annomi" in parts:
        figures["annomi"] = run_annomi(grader, args.shared, args.annomi_sessions, args.annomi_turns)
    if "repeat" in parts:
        while len(runs) < args.repeats:
            runs.append(run_gold(grader, items, f"repeat {len(runs) + 1}", dump=args.dump))
        same = total = 0
        for row, _ in items:
            for cid in CRITERIA:
                total += 1
                same += len({run[row["id"]][cid] for run in runs}) == 1
        figures["repeat"] = {"runs": len(runs), "agreement": same / total}
        print(f"repeat: {same / total:.3f} of verdicts identical over {len(runs)} runs")
    print(f"meta-evaluation took {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
