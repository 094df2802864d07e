"""Course documents, chunking, incremental ingest and filtered retrieval.

Unit tests use LangChain's deterministic fake embedding; the ``slow`` tests use the real
multilingual-e5-small model and a real Chroma server process.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from pydantic import Field

from actor.config import Settings
from actor.knowledge import CourseRetriever, KnowledgeFileError, build_filter, ingest, is_stale, load_corpus
from actor.knowledge.chunks import chunk_document
from actor.knowledge.documents import load_document

REPO_KNOWLEDGE = Path(__file__).resolve().parents[1] / "knowledge"

DOC = """---
id: {id}
lang: {lang}
title: {title}
kind: {fm_kind}
audience: {audience}
scenario: null
aggression_types: {types}
levels: {levels}
tactic: {tactic}
---
## How the customer uses this tactic
{intro}

## L1 — criticises the organisation
- {line1}

## L2 — refuses
- {line2}
"""


def write_doc(root: Path, lang: str, kind: str, doc_id: str, **fields) -> Path:
    values = dict(id=doc_id, lang=lang, title=doc_id.replace("-", " "), fm_kind=kind, audience="actor",
                  types="[frustration]", levels="[1, 2]", tactic="repeat_demand" if kind == "playbook" else "null",
                  intro=f"The customer repeats the demand about {doc_id}.", line1="Jullie doen nooit iets.",
                  line2="Ik ga hier niet weg.")
    values.update(fields)
    path = root / lang / kind / f"{doc_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DOC.format(**values), encoding="utf-8")
    return path


class CountingEmbedding(DeterministicFakeEmbedding):
    """Deterministic 384-d vectors that remember which texts were embedded as documents."""

    embedded: list[str] = Field(default_factory=list)

    def embed_documents(self, texts):
        self.embedded.extend(texts)
        return super().embed_documents(texts)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    for lang in ("nl", "en"):
        write_doc(root, lang, "playbook", "frustration-repeat-demand")
        write_doc(root, lang, "playbook", "instrumental-repeat-demand", types="[instrumental]")
        write_doc(root, lang, "course", "escalation-ladder", audience="both", types="[]", levels="[0, 4]")
    return root


@pytest.fixture
def settings(corpus: Path, monkeypatch) -> Settings:
    monkeypatch.setenv("ACTOR_KNOWLEDGE_DIR", str(corpus))
    return Settings()


def test_the_shipped_knowledge_base_is_valid_and_parallel():
    docs = load_corpus(REPO_KNOWLEDGE)
    kinds = {(d.meta.lang, d.meta.kind) for d in docs}
    assert kinds == {(lang, kind) for lang in ("nl", "en") for kind in ("course", "playbook", "policy")}
    for scenario in ("counter", "phone", "office", "intimidation"):
        assert {d.meta.lang for d in docs if d.meta.scenario == scenario and d.meta.kind == "policy"} == {"nl", "en"}
    tactics = {d.meta.tactic for d in docs if d.meta.kind == "playbook"}
    assert {"repeat_demand", "demand_manager", "threaten_review", "name_drop", "belittle", "insult", "intimidate", "false_claim"} <= tactics


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fm_kind": "lesson"}, "kind"),
        ({"levels": "[3, 1]"}, "levels"),
        ({"tactic": "null"}, "tactic"),
        ({"types": "[furious]"}, "aggression_types.0"),
    ],
)
def test_bad_front_matter_names_file_and_field(tmp_path, change, field):
    path = write_doc(tmp_path, "en", "playbook", "x-doc", **change)
    with pytest.raises(KnowledgeFileError) as err:
        load_document(path, tmp_path)
    assert err.value.field == field
    assert "en/playbook/x-doc.md" in str(err.value)


def test_unknown_key_is_rejected(tmp_path):
    path = write_doc(tmp_path, "en", "playbook", "x-doc")
    path.write_text(path.read_text().replace("scenario: null", "scenario: null\ncolour: red"))
    with pytest.raises(KnowledgeFileError, match="colour"):
        load_document(path, tmp_path)


def test_missing_translation_is_reported(corpus):
    (corpus / "en" / "course" / "escalation-ladder.md").unlink()
    with pytest.raises(KnowledgeFileError, match="no en version"):
        load_corpus(corpus)


def test_chunks_carry_source_heading_and_level(corpus):
    doc = load_document(corpus / "nl" / "playbook" / "frustration-repeat-demand.md", corpus)
    chunks = chunk_document(doc, "fake")
    by_heading = {c.metadata["heading"]: c for c in chunks}
    assert by_heading["L2 — refuses"].metadata["level_min"] == 2
    assert by_heading["L2 — refuses"].metadata["level_max"] == 2
    assert by_heading["How the customer uses this tactic"].metadata["level_min"] == 1
    assert all(c.metadata["source"] == "nl/playbook/frustration-repeat-demand.md" for c in chunks)
    assert chunks[0].text.startswith("frustration repeat demand — How the customer")
    assert [c.id for c in chunk_document(doc, "fake")] == [c.id for c in chunks], "ids are stable"


def test_filter_semantics():
    f = build_filter(lang="nl", audience="actor", scenario="phone", level=3, aggression_type="instrumental")
    assert {"audience": {"$in": ["actor", "both"]}} in f["$and"]
    assert {"scenario": {"$in": ["phone", "all"]}} in f["$and"]
    assert {"level_min": {"$lte": 3}} in f["$and"] and {"level_max": {"$gte": 3}} in f["$and"]
    assert build_filter(lang="en") == {"lang": "en"}
    assert build_filter() is None
    with pytest.raises(ValueError):
        build_filter(level=5)


def test_ingest_is_incremental(settings, corpus):
    emb = CountingEmbedding(size=384)
    first = ingest(settings, emb, progress=False)
    assert first.added > 0 and first.unchanged == 0
    assert not is_stale(settings, emb)

    emb.embedded.clear()
    path = corpus / "nl" / "playbook" / "frustration-repeat-demand.md"
    path.write_text(path.read_text().replace("Ik ga hier niet weg.", "Ik blijf hier staan tot het geregeld is."))
    assert is_stale(settings, emb)
    second = ingest(settings, emb, progress=False)
    assert second.added == 1 and second.deleted == 1
    assert emb.embedded == [c for c in emb.embedded if "Ik blijf hier staan" in c]
    assert len(emb.embedded) == 1

    (corpus / "nl" / "course" / "escalation-ladder.md").unlink()
    (corpus / "en" / "course" / "escalation-ladder.md").unlink()
    emb.embedded.clear()
    third = ingest(settings, emb, progress=False)
    assert third.added == 0 and third.deleted > 0 and emb.embedded == []
    sources = {m["source"] for m in CourseRetriever(settings, emb).store.get()["metadatas"]}
    assert not any("escalation-ladder" in s for s in sources)

    rebuilt = ingest(settings, emb, rebuild=True, progress=False)
    assert rebuilt.unchanged == 0 and rebuilt.added == third.added + third.unchanged


def test_invalid_file_stops_ingest_before_touching_the_store(settings, corpus):
    emb = CountingEmbedding(size=384)
    ingest(settings, emb, progress=False)
    before = set(CourseRetriever(settings, emb).store.get(include=[])["ids"])
    bad = corpus / "en" / "course" / "escalation-ladder.md"
    bad.write_text(bad.read_text().replace("audience: both", "audience: everyone"))
    with pytest.raises(KnowledgeFileError, match="audience"):
        ingest(settings, emb, progress=False)
    assert set(CourseRetriever(settings, emb).store.get(include=[])["ids"]) == before


def test_retriever_applies_facets(settings):
    emb = DeterministicFakeEmbedding(size=384)
    ingest(settings, emb, progress=False)
    r = CourseRetriever(settings, emb)
    hits = r.query("klant herhaalt zijn eis", lang="nl", aggression_type="instrumental", k=5, per_document=None)
    assert hits and {h.doc_id for h in hits} <= {"instrumental-repeat-demand", "escalation-ladder"}
    assert all(h.metadata["lang"] == "nl" for h in hits)
    hits = r.query("refuses", lang="en", kind="playbook", level=2, k=10, per_document=None)
    assert hits and all(h.metadata["level_min"] <= 2 <= h.metadata["level_max"] for h in hits)
    assert all(h.source.startswith("en/playbook/") and h.heading for h in hits)
    one_each = r.query("customer", lang="en", k=3)
    assert len({h.doc_id for h in one_each}) == len(one_each) == 3
    with pytest.raises(ValueError):
        r.query("   ", lang="en")


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("klant herhaalt zijn eis", {"k": 4, "lang": "nl"}),
        ("refuses", {"k": 10, "per_document": None, "lang": "en", "kind": "playbook", "level": 2}),
        ("customer repeats the demand", {"k": 3, "lang": "en", "audience": "actor", "aggression_type": "instrumental"}),
        ("Jullie doen nooit iets", {"k": 5, "per_document": 2}),
    ],
)
def test_langchain_retriever_returns_the_same_hits_as_query(settings, text, options):
    """``as_retriever(...).invoke`` is ``query`` as LangChain ``Document``s: same chunks, order, scores."""
    import asyncio

    from langchain_core.retrievers import BaseRetriever

    emb = DeterministicFakeEmbedding(size=384)
    ingest(settings, emb, progress=False)
    r = CourseRetriever(settings, emb, cache=False)  # both calls take the real path, not a cached list
    hits = r.query(text, **options)
    retriever = r.as_retriever(**options)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke(text)
    assert hits and len(docs) == len(hits)
    assert [(d.id, d.page_content, d.metadata["source"], d.metadata["heading"], d.metadata["doc_id"],
             d.metadata["score"], d.metadata["similarity"]) for d in docs] == [
        (h.chunk_id, h.text, h.source, h.heading, h.doc_id, h.score, h.similarity) for h in hits
    ]
    assert all(d.metadata[key] == h.metadata[key] for d, h in zip(docs, hits) for key in h.metadata)
    assert set(r.store.get(ids=[d.id for d in docs], include=[])["ids"]) == {d.id for d in docs}
    assert [d.id for d in asyncio.run(retriever.ainvoke(text))] == [d.id for d in docs]


def test_langchain_retriever_applies_facets_and_validates(settings):
    emb = DeterministicFakeEmbedding(size=384)
    ingest(settings, emb, progress=False)
    r = CourseRetriever(settings, emb)
    docs = r.as_retriever(k=10, per_document=None, lang="en", kind="playbook", level=2).invoke("refuses")
    assert docs and all(d.metadata["lang"] == "en" and d.metadata["kind"] == "playbook" for d in docs)
    assert all(d.metadata["level_min"] <= 2 <= d.metadata["level_max"] for d in docs)
    docs = r.as_retriever(k=10, per_document=None, lang="nl", aggression_type="instrumental").invoke("klant herhaalt zijn eis")
    assert docs and {d.metadata["doc_id"] for d in docs} <= {"instrumental-repeat-demand", "escalation-ladder"}
    assert len({d.metadata["doc_id"] for d in r.as_retriever(k=3, lang="en").invoke("customer")}) == 3
    with pytest.raises(ValueError):
        r.as_retriever(lang="en").invoke("   ")
    for bad in ({"colour": "red"}, {"level": 7}, {"k": 0}, {"per_document": 0}):
        with pytest.raises(ValueError):
            r.as_retriever(**bad)


def test_dense_similarity_is_one_minus_chroma_cosine_distance(settings):
    """The dense side goes through LangChain's store; its similarities are Chroma's own 1 - distance."""
    emb = DeterministicFakeEmbedding(size=384)
    ingest(settings, emb, progress=False)
    r = CourseRetriever(settings, emb, cache=False)
    where = build_filter(lang="en", kind="playbook")
    raw = r.collection.query(query_embeddings=[emb.embed_query("refuses")], n_results=50, where=where, include=["distances"])
    expected = {cid: 1.0 - dist for cid, dist in zip(raw["ids"][0], raw["distances"][0])}
    hits = r.query("refuses", k=50, per_document=None, lang="en", kind="playbook")
    dense = [h for h in hits if h.similarity is not None]
    assert dense and all(h.similarity == expected[h.chunk_id] for h in dense)


@pytest.mark.slow
def test_real_embeddings_find_the_right_document(tmp_path, monkeypatch):
    """multilingual-e5-small on a slice of the real knowledge base, in both languages."""
    from actor.embeddings import DIMENSIONS, E5Embeddings

    root = tmp_path / "knowledge"
    keep = ["threats-and-safety", "listen-summarise-ask", "policy-office", "white-collar-name-drop", "frustration-vent"]
    for src in REPO_KNOWLEDGE.glob("*/*/*.md"):
        if src.stem in keep:
            dest = root / src.relative_to(REPO_KNOWLEDGE)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest)
    monkeypatch.setenv("ACTOR_KNOWLEDGE_DIR", str(root))
    settings = Settings()
    emb = E5Embeddings()
    assert len(emb.embed_query("test")) == DIMENSIONS
    ingest(settings, emb, progress=False)
    r = CourseRetriever(settings, emb)
    assert r.query("Mag ik de leges voor te late aanvraag kwijtschelden?", lang="nl", k=1)[0].doc_id == "policy-office"
    assert r.query("samenvatten en doorvragen om de regie terug te krijgen", lang="nl", k=1)[0].doc_id == "listen-summarise-ask"
    assert r.query("customer mentions knowing the director to get special treatment", lang="en", kind="playbook", k=1)[0].doc_id == "white-collar-name-drop"
    assert r.query("what to do after a customer threatened to wait for me outside", lang="en", kind="course", k=1)[0].doc_id == "threats-and-safety"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    """A real Chroma server process on a loopback port (the `chroma` CLI of the chromadb wheel)."""
    chroma = Path(sys.executable).with_name("chroma")
    port = _free_port()
    proc = subprocess.Popen([str(chroma), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("chroma server did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.slow
def test_against_a_chroma_server(settings, chroma_server, monkeypatch):
    monkeypatch.setenv("ACTOR_CHROMA_URL", chroma_server)
    server_settings = Settings()
    emb = CountingEmbedding(size=384)
    report = ingest(server_settings, emb, progress=False)
    assert report.added > 0
    assert not (server_settings.chroma_path).exists(), "nothing written to the embedded store"
    assert ingest(server_settings, emb, progress=False).added == 0
    hits = CourseRetriever(server_settings, emb).query("herhaalt", lang="nl", kind="playbook", k=2)
    assert len(hits) == 2 and all(h.metadata["kind"] == "playbook" for h in hits)


@pytest.mark.parametrize(
    "facets",
    [
        {"lang": "nl"},
        {"lang": "en", "kind": "playbook", "level": 2},
        {"lang": "nl", "audience": "actor", "aggression_type": "instrumental"},
        {"lang": "en", "scenario": "phone", "level": 0, "tactic": "repeat_demand"},
        {"audience": "evaluator"},
    ],
)
def test_python_filter_agrees_with_chroma(settings, facets):
    """The lexical side filters in Python; it must select exactly what Chroma selects."""
    from actor.knowledge.retriever import matches

    emb = DeterministicFakeEmbedding(size=384)
    ingest(settings, emb, progress=False)
    store = CourseRetriever(settings, emb).store
    where = build_filter(**facets)
    everything = store.get(include=["metadatas"])
    by_python = {cid for cid, meta in zip(everything["ids"], everything["metadatas"]) if matches(where, meta)}
    assert by_python == set(store.get(where=where, include=[])["ids"])


def test_ingest_and_query_make_no_network_calls(settings, monkeypatch):
    """Embedded store, telemetry off: not a single socket connection is attempted."""
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    emb = DeterministicFakeEmbedding(size=384)
    ingest(settings, emb, progress=False)
    assert CourseRetriever(settings, emb).query("herhaalt", lang="nl", k=2)
    assert attempts == []


def test_shipped_vectors_are_used_and_only_new_text_is_embedded(tmp_path):
    import numpy as np

    from actor.knowledge.shipped import ShippedEmbeddings, text_key

    class Counting(DeterministicFakeEmbedding):
        seen: list = Field(default_factory=list)

        def embed_documents(self, texts):
            self.seen.extend(texts)
            return super().embed_documents(texts)

    base = Counting(size=8)
    path = tmp_path / "shipped.npz"
    shipped = np.arange(8, dtype=np.float32)
    np.savez(path, keys=np.array([text_key("Counting", "known passage")]), vectors=shipped[None, :])
    emb = ShippedEmbeddings(base, path)
    out = emb.embed_documents(["known passage", "a trainer's new passage"])
    assert out[0] == shipped.tolist() and base.seen == ["a trainer's new passage"] and emb.misses == 1
    assert out[1] == base.embed_documents(["a trainer's new passage"])[0]


@pytest.mark.slow
def test_the_shipped_embeddings_cover_the_shipped_course_material_and_match_the_model():
    """Every chunk of ``knowledge/`` has its vector in the package (first start embeds nothing),
    and the vectors are the model's own (rebuild with ``python -m actor.knowledge.shipped``)."""
    import numpy as np

    from actor.embeddings import E5Embeddings
    from actor.knowledge.chunks import chunk_corpus
    from actor.knowledge.shipped import load_shipped, text_key

    vectors = load_shipped()
    texts = sorted({c.text for c in chunk_corpus(load_corpus(REPO_KNOWLEDGE), "E5Embeddings")})
    missing = [t[:60] for t in texts if text_key("E5Embeddings", t) not in vectors]
    assert not missing, f"run `python -m actor.knowledge.shipped`: {len(missing)} chunks have no shipped vector"
    sample = texts[:: max(1, len(texts) // 5)]
    fresh = np.asarray(E5Embeddings().embed_documents(sample))
    stored = np.stack([vectors[text_key("E5Embeddings", t)] for t in sample])
    # the same model on another CPU gives slightly different floats (onnxruntime picks kernels per
    # instruction set: on an AVX-512/AMX machine components differ by up to 2e-3, cosine ≥ 0.99996);
    # another model or another text is far below 0.999
    cosine = (fresh * stored).sum(1) / np.linalg.norm(fresh, axis=1) / np.linalg.norm(stored, axis=1)
    assert cosine.min() > 0.999, cosine
