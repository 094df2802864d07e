"""Embeddings of the shipped course material, shipped with the package.

Embedding the ~300 chunks of ``knowledge/`` costs about a minute on 2 cores at first start.
:class:`ShippedEmbeddings` wraps the embedding model for the ingest: a passage whose vector is in
the shipped file (:data:`SHIPPED`, keyed by the sha256 of the embedding model's name and the
passage text) is taken from there; anything changed or added by a trainer is embedded as usual.
Queries are always embedded by the model.

``python -m actor.knowledge.shipped`` rebuilds the file from the current ``knowledge/`` folder
(run it after editing the shipped course material; a test checks that it covers every chunk).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

SHIPPED = Path(__file__).resolve().parent / "shipped-embeddings.npz"


def text_key(model: str, text: str) -> str:
    """The lookup key of one passage: sha256 of ``model`` and ``text`` (hex)."""
    return hashlib.sha256(f"{model}\0{text}".encode("utf-8")).hexdigest()


def load_shipped(path: Path = SHIPPED) -> dict[str, np.ndarray]:
    """``{key: vector}`` from the shipped file (empty when there is none)."""
    if not path.is_file():
        return {}
    with np.load(path) as data:
        return dict(zip(data["keys"].tolist(), data["vectors"]))


class ShippedEmbeddings(Embeddings):
    """``base`` with passage vectors looked up in the shipped file first.

    ``embed_documents(texts) -> list[list[float]]``: shipped vectors where the key matches, the
    model's for the rest (``misses`` counts those); ``embed_query`` is the model's. ``model``:
    the embedding model's name (default: the class name of ``base``, as in the chunk ids).
    """

    def __init__(self, base: Embeddings, path: Path = SHIPPED, model: str | None = None) -> None:
        self.base = base
        self.model = model or type(base).__name__
        self.vectors = load_shipped(path)
        self.misses = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        keys = [text_key(self.model, t) for t in texts]
        missing = [t for t, k in zip(texts, keys) if k not in self.vectors]
        self.misses += len(missing)
        fresh = iter(self.base.embed_documents(missing) if missing else [])
        return [self.vectors[k].tolist() if k in self.vectors else next(fresh) for k in keys]

    def embed_query(self, text: str) -> list[float]:
        return self.base.embed_query(text)


def build(knowledge_dir: Path, embeddings: Embeddings, path: Path = SHIPPED) -> int:
    """Embed every chunk of ``knowledge_dir`` and write the shipped file; returns the chunk count.
    Raises what :func:`~actor.knowledge.documents.load_corpus` raises for invalid files."""
    from actor.knowledge.chunks import chunk_corpus
    from actor.knowledge.documents import load_corpus

    model = type(embeddings).__name__
    texts = sorted({c.text for c in chunk_corpus(load_corpus(knowledge_dir), model)})
    vectors = np.asarray(embeddings.embed_documents(texts), dtype=np.float32)
    np.savez_compressed(path, keys=np.array([text_key(model, t) for t in texts]), vectors=vectors)
    return len(texts)


if __name__ == "__main__":
    from actor.config import Settings
    from actor.embeddings import E5Embeddings

    n = build(Settings().knowledge_dir, E5Embeddings())
    print(f"{n} passages embedded into {SHIPPED}")
