"""The vector store: Chroma, embedded (``PersistentClient``) or a server (``HttpClient``).

Telemetry is switched off and no embedding function of Chroma's own is ever used (it would
download a model): vectors always come from :class:`actor.embeddings.E5Embeddings` or the
embeddings given. Distances are cosine.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from actor.config import Settings

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def chroma_client(settings: Settings):
    """A Chroma client per settings: ``HttpClient`` when ``chroma_url`` is set, else persistent.

    Raises ``ValueError`` for a malformed ``chroma_url``.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"ACTOR_CHROMA_URL={settings.chroma_url!r} is not an http(s) URL")
        return chromadb.HttpClient(
            host=url.hostname,
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


def open_store(settings: Settings, embeddings: Embeddings, client=None) -> Chroma:
    """The LangChain ``Chroma`` vector store of the course material (created when missing)."""
    return Chroma(
        collection_name=settings.chroma_collection,
        embedding_function=embeddings,
        client=client or chroma_client(settings),
        collection_configuration={"hnsw": {"space": "cosine"}},
    )
