"""The retriever: course chunks for a query, filtered by language, audience, scenario, type,
level and tactic, each with its source path and heading so a trainer can see where a behaviour
came from.

Hybrid search: the dense ranking (multilingual-e5-small in Chroma, cosine) and a lexical BM25
ranking (``bm25s``, with a Dutch or English Snowball stemmer and stop-word list) are fused
with reciprocal rank fusion (RRF, constant 60; Cormack et al., SIGIR 2009). The lexical side
catches the exact words a small embedding model blurs (``wethouder``, ``recensie``, "wait
outside"). On our retrieval set it lifts recall@3 in Dutch clearly (see ``evals/retrieval``).
Facet filters apply to both sides through the same Chroma ``where`` filter.

Only the public API of the LangChain ``Chroma`` store is used (``get`` for the lexical index,
``similarity_search_by_vector_with_relevance_scores`` for the dense side). For LangChain
chains, :meth:`CourseRetriever.as_retriever` wraps the retriever as a ``BaseRetriever``
(:class:`CourseLangChainRetriever`) returning ``Document`` objects.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import Field, field_validator

from actor.config import Settings
from actor.knowledge.store import chroma_client, open_store

RRF_K = 60  # the rank constant of reciprocal rank fusion
CANDIDATES = 50  # candidates taken from each ranking before fusion
QUERY_CACHE = 512  # distinct queries whose embeddings and results are kept (cleared by refresh())
_STEMMERS = {"nl": "dutch", "en": "english"}


@dataclass(frozen=True)
class RetrievedChunk:
    """One hit: chunk ``text``, ``source`` (path under the knowledge folder), ``heading``,
    ``doc_id``, fused ``score`` (RRF, higher is better), ``similarity`` (cosine, 1 = identical;
    ``None`` when only the lexical side found it), all stored ``metadata`` and ``chunk_id``
    (the chunk's id in the store)."""

    text: str
    source: str
    heading: str
    doc_id: str
    score: float
    similarity: float | None
    metadata: dict = field(repr=False)
    chunk_id: str = field(default="", repr=False)

    def cite(self) -> str:
        """``source › heading``, the way the UI and prompts cite a chunk."""
        return f"{self.source} › {self.heading}" if self.heading else self.source

    def to_document(self) -> Document:
        """This hit as a LangChain ``Document``: ``page_content`` = ``text``, ``id`` = ``chunk_id``,
        ``metadata`` = the stored metadata (``doc_id``, ``lang``, ``kind``, ``source``, ``heading``,
        …) with ``source``, ``heading``, ``doc_id``, ``score`` and ``similarity`` (``None`` for a
        lexical-only hit) set from this hit."""
        metadata = {
            **self.metadata,
            "source": self.source,
            "heading": self.heading,
            "doc_id": self.doc_id,
            "score": self.score,
            "similarity": self.similarity,
        }
        return Document(page_content=self.text, metadata=metadata, id=self.chunk_id or None)


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
    Raises ``ValueError`` for a level outside 0–4.
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


def matches(where: dict | None, metadata: dict) -> bool:
    """Evaluate a :func:`build_filter` result on one chunk's metadata, as Chroma would.

    Supports what :func:`build_filter` produces: ``$and``, equality, ``$in``, ``$lte``,
    ``$gte``. Used on the lexical side, where asking Chroma to filter a list of ids costs
    ~200 ms at 10k chunks.
    """
    if not where:
        return True
    if "$and" in where:
        return all(matches(cond, metadata) for cond in where["$and"])
    for key, cond in where.items():
        value = metadata.get(key)
        if isinstance(cond, dict):
            for op, arg in cond.items():
                if op == "$in" and value not in arg:
                    return False
                if op == "$lte" and not (value is not None and value <= arg):
                    return False
                if op == "$gte" and not (value is not None and value >= arg):
                    return False
                if op not in ("$in", "$lte", "$gte"):
                    raise ValueError(f"unsupported filter operator {op}")
        elif value != cond:
            return False
    return True


class _LexicalIndex:
    """BM25 over all chunks of one language, with their texts and metadata (from the store)."""

    def __init__(self, ids: list[str], texts: list[str], metadatas: list[dict], lang: str) -> None:
        import bm25s
        import Stemmer
        from bm25s.stopwords import STOPWORDS_DUTCH, STOPWORDS_EN

        self.ids = ids
        self.chunks = {cid: (text, meta) for cid, text, meta in zip(ids, texts, metadatas)}
        self.stemmer = Stemmer.Stemmer(_STEMMERS.get(lang, "english"))
        self.stopwords = list(STOPWORDS_DUTCH if lang == "nl" else STOPWORDS_EN)
        self.bm25 = bm25s.BM25()
        if ids:
            self.bm25.index(self._tokens(texts), show_progress=False)

    def _tokens(self, texts: list[str]):
        import bm25s

        return bm25s.tokenize(texts, stopwords=self.stopwords, stemmer=self.stemmer, show_progress=False)

    def search(self, text: str, n: int) -> list[str]:
        """Ids of the ``n`` best chunks by BM25 (only those with a positive score)."""
        if not self.ids:
            return []
        tokens = self._tokens([text])
        if not tokens.vocab:
            return []
        docs, scores = self.bm25.retrieve(tokens, k=min(n, len(self.ids)), show_progress=False)
        return [self.ids[j] for j, s in zip(docs[0], scores[0]) if s > 0]


class CourseRetriever:
    """Query the course material: ``query(text, k=…, **facets) -> list[RetrievedChunk]``.

    Facets are those of :func:`build_filter`; ``lang`` should always be given (the lexical
    side is per language; without it, only the dense side is used). The lexical index is built
    on the first query per language from the store's contents; call :meth:`refresh` after an
    ingest in the same process. With ``cache`` (default) the last :data:`QUERY_CACHE` queries'
    embeddings and results are kept: the actor asks the same few queries every turn, so a
    repeated query costs no embedding and no search (``cache=False`` measures the cold path).
    ``as_retriever(k=…, per_document=…, **facets)`` gives the same search as a LangChain
    ``BaseRetriever`` returning ``Document`` objects. Thread-safe.
    """

    def __init__(self, settings: Settings, embeddings: Embeddings, client=None, cache: bool = True) -> None:
        self.cache = cache
        self._client = client or chroma_client(settings)
        self._collection_name = settings.chroma_collection
        self.store = open_store(settings, embeddings, self._client)
        self.embeddings = embeddings
        self._lexical: dict[str, _LexicalIndex] = {}
        self._lock = threading.Lock()
        self._query_vectors: OrderedDict[str, list[float]] = OrderedDict()  # recent query texts (LRU)
        self._results: OrderedDict[tuple, list[RetrievedChunk]] = OrderedDict()  # recent queries' hits (LRU)

    def _embed_query(self, text: str) -> list[float]:
        """The query's embedding; the last :data:`QUERY_CACHE` distinct texts are kept, because the
        actor asks the same few queries (aggression type + tactic) turn after turn (~19 ms each)."""
        if not self.cache:
            return self.embeddings.embed_query(text)
        with self._lock:
            vector = self._query_vectors.get(text)
            if vector is not None:
                self._query_vectors.move_to_end(text)
                return vector
        vector = self.embeddings.embed_query(text)
        with self._lock:
            self._query_vectors[text] = vector
            while len(self._query_vectors) > QUERY_CACHE:
                self._query_vectors.popitem(last=False)
        return vector

    @property
    def collection(self):
        """The raw ``chromadb`` collection of the store, through Chroma's public client API (for
        tools that inspect or pad the store, e.g. ``benchmarks/retrieval_latency.py``; the
        retriever itself only uses the LangChain store). Raises chromadb's ``NotFoundError``
        when the collection has been deleted."""
        return self._client.get_collection(self._collection_name, embedding_function=None)


    def as_retriever(self, k: int = 4, per_document: int | None = 1, **facets) -> CourseLangChainRetriever:
        """This retriever as a LangChain ``BaseRetriever``: ``invoke(text) -> list[Document]``, the
        same hits in the same order as ``query(text, k=k, per_document=per_document, **facets)``
        (see :meth:`RetrievedChunk.to_document`). Raises ``ValueError`` (pydantic's
        ``ValidationError``) for ``k < 1``, ``per_document < 1``, an unknown facet or a level
        outside 0–4."""
        return CourseLangChainRetriever(course=self, k=k, per_document=per_document, facets=facets)

    def refresh(self) -> None:
        """Forget the lexical indexes and cached results (rebuilt from the store on the next query)."""
        with self._lock:
            self._lexical.clear()
            self._results.clear()

    def _lexical_index(self, lang: str) -> _LexicalIndex:
        with self._lock:
            if lang not in self._lexical:
                got = self.store.get(where={"lang": lang}, include=["documents", "metadatas"])
                self._lexical[lang] = _LexicalIndex(got["ids"], got["documents"], got["metadatas"], lang)
            return self._lexical[lang]

    def query(self, text: str, *, k: int = 4, per_document: int | None = 1, **facets) -> list[RetrievedChunk]:
        """The ``k`` best chunks for ``text``, best first.

        ``per_document`` caps how many chunks one document may contribute (default 1, so the
        hits cover ``k`` different documents; ``None`` = no cap). Raises ``ValueError`` for an
        empty query or a level outside 0–4.
        """
        if not text.strip():
            raise ValueError("empty retrieval query")
        where = build_filter(**facets)
        if not self.cache:
            return self._query(text, where, k, per_document, facets)
        key = (text, k, per_document, tuple(sorted(facets.items())))
        with self._lock:
            if key in self._results:  # the actor asks the same few questions every turn
                self._results.move_to_end(key)
                return list(self._results[key])
        picked = self._query(text, where, k, per_document, facets)
        with self._lock:
            self._results[key] = picked
            while len(self._results) > QUERY_CACHE:
                self._results.popitem(last=False)
        return list(picked)

    def _query(self, text: str, where, k: int, per_document: int | None, facets: dict) -> list[RetrievedChunk]:
        # Despite its name, this returns Chroma's raw cosine *distance* per Document (``id`` set);
        # 1 - distance is the similarity (what langchain_chroma's cosine relevance function gives).
        dense = self.store.similarity_search_by_vector_with_relevance_scores(
            self._embed_query(text), k=CANDIDATES, filter=where
        )
        found: dict[str, tuple[str, dict, float | None]] = {
            doc.id: (doc.page_content, doc.metadata, 1.0 - dist) for doc, dist in dense
        }
        score: dict[str, float] = {}
        for rank, (doc, _) in enumerate(dense):
            score[doc.id] = 1.0 / (RRF_K + rank)
        lang = facets.get("lang")
        if lang:
            index = self._lexical_index(lang)
            lexical = [cid for cid in index.search(text, CANDIDATES * 4) if matches(where, index.chunks[cid][1])]
            for rank, cid in enumerate(lexical[:CANDIDATES]):
                found.setdefault(cid, (*index.chunks[cid], None))
                score[cid] = score.get(cid, 0.0) + 1.0 / (RRF_K + rank)
        picked: list[RetrievedChunk] = []
        per_doc: dict[str, int] = {}
        for cid in sorted(score, key=lambda c: -score[c]):
            doc, meta, similarity = found[cid]
            doc_id = meta.get("doc_id", "")
            if per_document is not None and per_doc.get(doc_id, 0) >= per_document:
                continue
            per_doc[doc_id] = per_doc.get(doc_id, 0) + 1
            picked.append(
                RetrievedChunk(
                    text=doc,
                    source=meta.get("source", ""),
                    heading=meta.get("heading", ""),
                    doc_id=doc_id,
                    score=score[cid],
                    similarity=similarity,
                    metadata=dict(meta),
                    chunk_id=cid,
                )
            )
            if len(picked) == k:
                break
        return picked


class CourseLangChainRetriever(BaseRetriever):
    """A :class:`CourseRetriever` as a LangChain ``BaseRetriever`` (build it with
    :meth:`CourseRetriever.as_retriever`).

    ``invoke(text) -> list[Document]``: at most ``k`` documents, best first, exactly the hits of
    ``course.query(text, k=k, per_document=per_document, **facets)`` converted by
    :meth:`RetrievedChunk.to_document` (``page_content`` = chunk text, ``id`` = chunk id,
    ``metadata`` with ``source``, ``heading``, ``doc_id``, ``score``, ``similarity`` and the stored
    facets). Raises ``ValueError`` for an empty query. ``ainvoke`` runs the same search in a
    thread. Fields are validated on construction: ``k`` ≥ 1, ``per_document`` ≥ 1 or ``None``,
    ``facets`` as accepted by :func:`build_filter`.
    """

    course: CourseRetriever
    k: int = Field(default=4, ge=1)
    per_document: int | None = Field(default=1, ge=1)
    facets: dict[str, Any] = Field(default_factory=dict)

    @field_validator("facets")
    @classmethod
    def _known_facets(cls, facets: dict[str, Any]) -> dict[str, Any]:
        try:
            build_filter(**facets)
        except TypeError as e:  # an unknown keyword
            raise ValueError(f"unknown retrieval facet: {e}") from None
        return facets

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.course.query(query, k=self.k, per_document=self.per_document, **self.facets)
        return [hit.to_document() for hit in hits]
