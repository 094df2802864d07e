"""Retrieval latency at the current knowledge-base size and at 10k chunks.

``python benchmarks/retrieval_latency.py [--chunks 10000]`` ingests the course material into a
temporary embedded Chroma store, times the retriever on every query of the retrieval eval set
(``evals/retrieval``; faceted by language and by language + kind), then pads the store with
synthetic chunks up to ``--chunks`` and times it again. Prints p50/p95 in milliseconds, split
into query embedding and search (Chroma dense query + BM25 + fusion), on the cold path (the
retriever's cache off); then the same queries repeated with the cache on, which is what the
actor's per-turn playbook lookups cost in the app (it asks the same few queries every turn).

Synthetic chunks: real chunk texts with their sentences shuffled and a serial number, and
vectors that are real chunk vectors plus Gaussian noise (σ = 0.02 per dimension, re-normalised),
so the HNSW graph and the BM25 index see realistic, distinct entries without embedding 10k texts
(which would take ~25 minutes here). Metadata is copied from the source chunk.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from actor.config import Settings
from actor.embeddings import E5Embeddings
from actor.knowledge import CourseRetriever, ingest
from actor.knowledge.documents import load_corpus


def percentiles(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return f"p50 {statistics.median(values) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms"


def time_queries(retriever: CourseRetriever, embeddings: E5Embeddings, queries, kinds) -> tuple[list, list, list]:
    total, embed, search = [], [], []
    for q in queries:
        for facets in ({"lang": q.lang}, {"lang": q.lang, "kind": kinds[q.expected[0]]}):
            t0 = time.perf_counter()
            embeddings.embed_query(q.query)
            t1 = time.perf_counter()
            retriever.query(q.query, k=3, **facets)
            t2 = time.perf_counter()
            embed.append(t1 - t0)
            total.append(t2 - t1)
            search.append((t2 - t1) - (t1 - t0))
    return total, embed, search


def report(label: str, n: int, rows) -> None:
    total, embed, search = rows
    print(f"{label} ({n} chunks, {len(total)} queries)")
    print(f"  whole query        {percentiles(total)}")
    print(f"  query embedding    {percentiles(embed)}")
    print(f"  search + fusion    {percentiles(search)}")


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from evals.retrieval.__main__ import load_queries

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        embeddings = E5Embeddings()
        rep = ingest(settings, embeddings, progress=False)
        print(f"ingest of the whole knowledge base: {rep}")
        kinds = {d.meta.id: d.meta.kind for d in load_corpus(settings.knowledge_dir)}
        queries = load_queries()
        retriever = CourseRetriever(settings, embeddings, cache=False)  # every query on the cold path
        retriever.query("warm-up", lang="nl")
        retriever.query("warm-up", lang="en")
        collection = retriever.collection
        n_real = collection.count()
        report("current size", n_real, time_queries(retriever, embeddings, queries, kinds))

        real = collection.get(include=["documents", "metadatas", "embeddings"])
        rng = random.Random(0)
        nrng = np.random.default_rng(0)
        todo = args.chunks - n_real
        start = time.perf_counter()
        for batch_start in range(0, todo, 1000):
            ids, docs, metas, vecs = [], [], [], []
            for i in range(batch_start, min(todo, batch_start + 1000)):
                j = rng.randrange(n_real)
                sentences = real["documents"][j].split(". ")
                rng.shuffle(sentences)
                vec = np.asarray(real["embeddings"][j]) + nrng.normal(0, 0.02, len(real["embeddings"][j]))
                ids.append(f"synthetic-{i}")
                docs.append(". ".join(sentences) + f" (#{i})")
                metas.append({**real["metadatas"][j], "doc_id": f"synthetic-{i % 500}"})
                vecs.append((vec / np.linalg.norm(vec)).tolist())
            collection.add(ids=ids, documents=docs, metadatas=metas, embeddings=vecs)
        print(f"padded to {collection.count()} chunks in {time.perf_counter() - start:.1f} s")
        retriever.refresh()
        retriever.query("warm-up", lang="nl")
        retriever.query("warm-up", lang="en")
        report("padded", collection.count(), time_queries(retriever, embeddings, queries, kinds))
        cached = CourseRetriever(settings, embeddings)  # as the app runs it
        time_queries(cached, embeddings, queries, kinds)
        total, _, _ = time_queries(cached, embeddings, queries, kinds)
        print(f"repeated queries with the cache, as the actor's per-turn lookups ({collection.count()} chunks): "
              f"{percentiles(total)}")


if __name__ == "__main__":
    main()
