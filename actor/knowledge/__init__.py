"""Course material: documents on disk, chunking, ingest into Chroma, and the retriever.

One retrieval, end to end: ``load_corpus`` (validated Markdown) → ``chunk_corpus`` (by heading,
content-hashed ids) → ``ingest`` (embed what is new, drop what is gone) → ``CourseRetriever.query``
(filtered similarity search, each hit with its source and heading).
"""

from actor.knowledge.documents import Document, FrontMatter, KnowledgeFileError, load_corpus
from actor.knowledge.ingest import IngestReport, ingest, is_stale
from actor.knowledge.retriever import CourseRetriever, RetrievedChunk, build_filter

__all__ = [
    "CourseRetriever",
    "Document",
    "FrontMatter",
    "IngestReport",
    "KnowledgeFileError",
    "RetrievedChunk",
    "build_filter",
    "ingest",
    "is_stale",
    "load_corpus",
]
