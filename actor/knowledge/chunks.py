"""Splitting course documents into retrievable chunks.

Markdown-aware: LangChain's ``MarkdownHeaderTextSplitter`` cuts at ``#``/``##``/``###``
headings, then ``RecursiveCharacterTextSplitter`` cuts sections longer than ``MAX_CHARS``.
Each chunk's text starts with the document title and heading path, so it reads (and embeds)
on its own. Its id is a content hash over text, metadata and source, so an unchanged chunk
keeps its id across ingests and is not embedded again.

Metadata per chunk (Chroma stores scalars only): ``doc_id``, ``lang``, ``kind``, ``audience``,
``scenario`` (``"all"`` when the document is for every scenario), ``level_min``/``level_max``,
``tactic`` (``""`` when none), one boolean ``type_<aggression type>`` per type, ``source``
(path relative to the knowledge folder), ``heading``, ``title``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from actor.knowledge.documents import AGGRESSION_TYPES, Document

MAX_CHARS = 1200  # characters per chunk before a section is split further (~300 tokens)
OVERLAP_CHARS = 150
CHUNKER_VERSION = "1"  # bump to force re-embedding of everything when splitting changes
_LEVEL_HEADING = re.compile(r"^L([0-4])\b")

_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3")]


@dataclass(frozen=True)
class Chunk:
    """One retrievable piece: ``id`` (content hash), ``text`` and scalar ``metadata``."""

    id: str
    text: str
    metadata: dict


def chunk_document(doc: Document, embedder: str) -> list[Chunk]:
    """Split ``doc`` into chunks; ``embedder`` names the embedding model (part of the id)."""
    sections = MarkdownHeaderTextSplitter(headers_to_split_on=_HEADERS, strip_headers=True).split_text(doc.body)
    splitter = RecursiveCharacterTextSplitter(chunk_size=MAX_CHARS, chunk_overlap=OVERLAP_CHARS)
    m = doc.meta
    chunks = []
    for section in sections:
        headings = [section.metadata[key] for _, key in _HEADERS if key in section.metadata]
        heading = " > ".join(headings)
        level_min, level_max = m.levels
        for h in reversed(headings):
            match = _LEVEL_HEADING.match(h)
            if match and m.kind == "playbook":
                level_min = level_max = int(match.group(1))
                break
        for piece in splitter.split_text(section.page_content):
            text = f"{m.title}" + (f" — {heading}" if heading else "") + f"\n\n{piece.strip()}"
            metadata = {
                "doc_id": m.id,
                "lang": m.lang,
                "kind": m.kind,
                "audience": m.audience,
                "scenario": m.scenario or "all",
                "level_min": level_min,
                "level_max": level_max,
                "tactic": m.tactic or "",
                **{f"type_{t}": t in m.types for t in AGGRESSION_TYPES},
                "source": doc.source,
                "heading": heading,
                "title": m.title,
            }
            digest = hashlib.sha256(
                json.dumps([CHUNKER_VERSION, embedder, text, metadata], sort_keys=True, ensure_ascii=False).encode()
            ).hexdigest()[:32]
            chunks.append(Chunk(id=digest, text=text, metadata=metadata))
    return chunks


def chunk_corpus(docs: list[Document], embedder: str) -> list[Chunk]:
    """All chunks of ``docs``; identical chunks (same id) are kept once."""
    seen: dict[str, Chunk] = {}
    for doc in docs:
        for chunk in chunk_document(doc, embedder):
            seen.setdefault(chunk.id, chunk)
    return list(seen.values())
