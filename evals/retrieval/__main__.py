"""Print recall@k of the course retriever per language (``python -m evals.retrieval``).

For every query in ``evals/retrieval/queries-*.yaml`` the retriever returns the top ``k``
chunks in the query's language; the query counts as recalled when any of them comes from an
expected document. Two settings are reported:

- ``lang only``: filtered by language alone (the hardest setting: course, playbook and
  policy chunks compete);
- ``faceted``: also filtered by the document kind of the expected source, as the actor
  (playbook) and the evaluator (course, policy) query in practice.

The store is the one configured (``ACTOR_HOME`` / ``ACTOR_CHROMA_URL``); it is brought up to
date with an incremental ingest first. Exit status 1 when ``--min`` is given and missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from statistics import median

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter

from actor.config import Settings
from actor.embeddings import E5Embeddings
from actor.knowledge import CourseRetriever, ingest, load_corpus

HERE = Path(__file__).resolve().parent


class Query(BaseModel):
    """One evaluation query (unknown keys rejected)."""

    model_config = ConfigDict(extra="forbid")
    lang: str
    query: str
    expected: list[str]


def load_queries(folder: Path = HERE) -> list[Query]:
    """All queries from ``queries-*.yaml`` in ``folder``."""
    rows = []
    for path in sorted(folder.glob("queries-*.yaml")):
        rows += TypeAdapter(list[Query]).validate_python(yaml.safe_load(path.read_text(encoding="utf-8")))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", type=int, default=3)
    parser.add_argument("--min", type=float, default=None, help="fail when any recall is below this")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args(argv)

    settings = Settings()
    embeddings = E5Embeddings()
    print(f"ingest: {ingest(settings, embeddings, progress=False)}")
    kinds = {d.meta.id: d.meta.kind for d in load_corpus(settings.knowledge_dir)}
    queries = load_queries()
    unknown = sorted({e for q in queries for e in q.expected} - kinds.keys())
    if unknown:
        print(f"queries name unknown documents: {unknown}")
        return 2
    retriever = CourseRetriever(settings, embeddings)

    worst = 1.0
    latencies: list[float] = []
    for setting in ("lang only", "faceted"):
        for lang in ("nl", "en"):
            rows = [q for q in queries if q.lang == lang]
            hits = 0
            for q in rows:
                facets = {"lang": lang}
                if setting == "faceted":
                    facets["kind"] = kinds[q.expected[0]]
                start = time.perf_counter()
                got = [h.doc_id for h in retriever.query(q.query, k=args.k, **facets)]
                latencies.append(time.perf_counter() - start)
                if set(got) & set(q.expected):
                    hits += 1
                elif args.show_misses:
                    print(f"  miss [{setting}] {lang}: {q.query!r} expected {q.expected}, got {got}")
            recall = hits / len(rows)
            worst = min(worst, recall)
            print(f"recall@{args.k} {setting:9s} {lang}: {recall:.3f} ({hits}/{len(rows)} queries)")
    latencies.sort()
    print(f"query latency (embed + search): p50 {median(latencies) * 1000:.1f} ms, "
          f"p95 {latencies[int(0.95 * (len(latencies) - 1))] * 1000:.1f} ms over {len(latencies)} queries")
    if args.min is not None and worst < args.min:
        print(f"FAIL: a recall is below {args.min}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
