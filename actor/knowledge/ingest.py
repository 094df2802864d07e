"""Ingest: course documents → chunks → embeddings → Chroma, incrementally.

A chunk's id is a hash of its content and metadata (:mod:`actor.knowledge.chunks`), so an
ingest compares the ids on disk with the ids in the store: new ids are added (their vectors
from the shipped embeddings, :mod:`actor.knowledge.shipped`, or embedded now),
ids no longer on disk (edited or removed files) are deleted, the rest is left alone.
``rebuild=True`` drops the collection first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from langchain_core.embeddings import Embeddings
from tqdm import tqdm

from actor.config import Settings
from actor.knowledge.chunks import Chunk, chunk_corpus
from actor.knowledge.documents import load_corpus
from actor.knowledge.store import open_store

BATCH = 32  # chunks per embedding call


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did: chunk counts and the wall time in seconds."""

    documents: int
    added: int
    deleted: int
    unchanged: int
    seconds: float
    embedded: int = 0  # of the added chunks, those not in the shipped embeddings

    def __str__(self) -> str:
        return (
            f"{self.documents} documents: {self.added} chunks added ({self.embedded} embedded now, "
            f"{self.added - self.embedded} from the shipped embeddings), {self.deleted} removed, "
            f"{self.unchanged} unchanged ({self.seconds:.1f} s)"
        )


def embedder_name(embeddings: Embeddings) -> str:
    """The name of an embeddings object, part of every chunk id (a new model re-embeds all)."""
    return type(getattr(embeddings, "base", embeddings)).__name__


def current_chunks(settings: Settings, embeddings: Embeddings) -> list[Chunk]:
    """The chunks the knowledge folder yields now (validates every file; no embedding)."""
    return chunk_corpus(load_corpus(settings.knowledge_dir), embedder_name(embeddings))


def stored_ids(store) -> set[str]:
    """Ids of all chunks in the store."""
    return set(store.get(include=[])["ids"])


def is_stale(settings: Settings, embeddings: Embeddings, client=None) -> bool:
    """True when the store is empty or differs from the knowledge folder (cheap: no embedding)."""
    store = open_store(settings, embeddings, client)
    wanted = {c.id for c in current_chunks(settings, embeddings)}
    return stored_ids(store) != wanted


def ingest(
    settings: Settings,
    embeddings: Embeddings,
    *,
    rebuild: bool = False,
    progress: bool = True,
    client=None,
) -> IngestReport:
    """Bring the vector store in line with ``settings.knowledge_dir``.

    Raises :class:`~actor.knowledge.documents.KnowledgeFileError` (naming file and field) before
    touching the store when any document is invalid.
    """
    from actor.knowledge.shipped import ShippedEmbeddings

    start = time.perf_counter()
    docs = load_corpus(settings.knowledge_dir)
    chunks = chunk_corpus(docs, embedder_name(embeddings))
    # shipped course material comes with its vectors; only what changed is embedded here
    embeddings = embeddings if isinstance(embeddings, ShippedEmbeddings) else ShippedEmbeddings(embeddings)
    store = open_store(settings, embeddings, client)
    if rebuild:
        store.delete_collection()
        store = open_store(settings, embeddings, client)
    have = stored_ids(store)
    wanted = {c.id: c for c in chunks}
    to_add = [c for cid, c in wanted.items() if cid not in have]
    to_delete = sorted(have - wanted.keys())
    if to_delete:
        store.delete(ids=to_delete)
    bar = tqdm(total=len(to_add), desc="embedding chunks", unit="chunk", disable=not progress or not to_add)
    for i in range(0, len(to_add), BATCH):
        batch = to_add[i : i + BATCH]
        store.add_texts(
            texts=[c.text for c in batch],
            metadatas=[c.metadata for c in batch],
            ids=[c.id for c in batch],
        )
        bar.update(len(batch))
    bar.close()
    return IngestReport(
        documents=len(docs),
        added=len(to_add),
        embedded=embeddings.misses,
        deleted=len(to_delete),
        unchanged=len(wanted) - len(to_add),
        seconds=time.perf_counter() - start,
    )
