"""The retriever: course chunks for a query, filtered by language, audience, scenario, type,
level and tactic, each with its source path and heading so a trainer can see where a behaviour
came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings

from actor.config import Settings
from actor.knowledge.store import open_store


@dataclass(frozen=True)
class RetrievedChunk:
    """One hit: chunk ``text``, ``source`` (path under the knowledge folder), ``heading``,
    ``doc_id``, ``similarity`` (cosine, 1 = identical) and all stored ``metadata``."""

    text: str
    source: str
    heading: str
    doc_id: str
    similarity: float
    metadata: dict = field(repr=False)

    def cite(self) -> str:
        """``source › heading``, the way the UI and prompts cite a chunk."""
        return f"{self.source} › {self.heading}" if self.heading else self.source


def build_filter(
    *,
    lang: str | None = None,
    audience: str | None = None,
    kind: str | None = None,
    scenario: str | None = None,
    aggression_type: str | None = None,
    level: int | None = None,
    tactic: str | None = None,
) -> dict | None:
    """A Chroma ``where`` filter for the given facets (``None`` facets are not filtered).

    ``audience="actor"`` also matches documents for ``both``; ``scenario`` also matches
    documents for every scenario; ``level`` (0–4) matches documents whose range holds it.
    """
    conds: list[dict] = []
    if lang:
        conds.append({"lang": lang})
    if audience:
        conds.append({"audience": {"$in": [audience, "both"]}})
    if kind:
        conds.append({"kind": kind})
    if scenario:
        conds.append({"scenario": {"$in": [scenario, "all"]}})
    if aggression_type:
        conds.append({f"type_{aggression_type}": True})
    if level is not None:
        if not 0 <= level <= 4:
            raise ValueError(f"escalation level must be 0-4, got {level}")
        conds.append({"level_min": {"$lte": level}})
        conds.append({"level_max": {"$gte": level}})
    if tactic:
        conds.append({"tactic": tactic})
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else {"$and": conds}


class CourseRetriever:
    """Query the course material. ``query(text, k=…, **facets) -> list[RetrievedChunk]``.

    Facets are those of :func:`build_filter`. One embedding call (query mode) plus one Chroma
    query per call.
    """

    def __init__(self, settings: Settings, embeddings: Embeddings, client=None) -> None:
        self.store = open_store(settings, embeddings, client)

    def query(self, text: str, *, k: int = 4, per_document: int | None = 1, **facets) -> list[RetrievedChunk]:
        """The ``k`` best chunks for ``text``, best first.

        ``per_document`` caps how many chunks one document may contribute (default 1, so the
        hits cover ``k`` different documents; ``None`` = no cap). Raises ``ValueError`` for an
        empty query or a level outside 0–4.
        """
        if not text.strip():
            raise ValueError("empty retrieval query")
        fetch = k if per_document is None else k * 5
        hits = self.store.similarity_search_with_score(text, k=fetch, filter=build_filter(**facets))
        chunks = [
            RetrievedChunk(
                text=doc.page_content,
                source=doc.metadata.get("source", ""),
                heading=doc.metadata.get("heading", ""),
                doc_id=doc.metadata.get("doc_id", ""),
                similarity=1.0 - float(distance),
                metadata=dict(doc.metadata),
            )
            for doc, distance in hits
        ]
        if per_document is None:
            return chunks[:k]
        picked: list[RetrievedChunk] = []
        per_doc: dict[str, int] = {}
        for chunk in chunks:
            if per_doc.get(chunk.doc_id, 0) < per_document:
                per_doc[chunk.doc_id] = per_doc.get(chunk.doc_id, 0) + 1
                picked.append(chunk)
        return picked[:k]
