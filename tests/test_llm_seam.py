"""The model seam: backend selection from settings, the no-real-calls switch, the OpenAI path."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from pydantic import ValidationError

from actor.config import Settings
from actor.llm import ModelRequestsForbidden, chat_model
from actor.llm.local import LocalChatModel
from actor.testing.openai_stub import OpenAIStub


def test_fake_backend_replays_its_queue(monkeypatch):
    monkeypatch.setenv("ACTOR_PERSONA__BACKEND", "fake")
    monkeypatch.setenv("ACTOR_PERSONA__FAKE_RESPONSES", '["Waar blijft mijn pakket?", "Nou?"]')
    model = chat_model("persona", Settings())
    assert isinstance(model, FakeListChatModel)
    assert model.invoke("hallo").content == "Waar blijft mijn pakket?"
    assert model.invoke("hallo").content == "Nou?"


def test_roles_are_configured_separately(monkeypatch):
    monkeypatch.setenv("ACTOR_PERSONA__BACKEND", "openai")
    monkeypatch.setenv("ACTOR_PERSONA__TEMPERATURE", "0.9")
    monkeypatch.setenv("ACTOR_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ACTOR_EVALUATOR__BACKEND", "fake")
    settings = Settings()
    persona = chat_model("persona", settings)
    assert isinstance(persona, ChatOpenAI)
    assert persona.temperature == 0.9
    assert str(persona.openai_api_base).startswith("http://127.0.0.1:9")
    assert isinstance(chat_model("evaluator", settings), FakeListChatModel)


def test_local_backend_is_the_default(tmp_path, monkeypatch):
    gguf = tmp_path / "team-model.gguf"
    gguf.write_bytes(b"GGUF")  # loaded lazily: selection needs no real file contents
    monkeypatch.setenv("ACTOR_LOCAL_MODEL_PATH", str(gguf))
    model = chat_model("evaluator", Settings())
    assert isinstance(model, LocalChatModel)
    assert model.slot == "evaluator"
    assert model.temperature == 0.0
    assert model.n_threads >= 1
    assert model.model_path == str(gguf) and model.model_name == "team-model.gguf"


def test_config_file_is_read_and_env_wins(tmp_path, monkeypatch):
    cfg = tmp_path / "team.toml"
    cfg.write_text('openai_model = "qwen-32b"\n[evaluator]\nbackend = "openai"\nmodel = "judge"\n')
    monkeypatch.setenv("ACTOR_CONFIG", str(cfg))
    monkeypatch.setenv("ACTOR_OPENAI_MODEL", "from-env")
    s = Settings()
    assert s.evaluator.backend == "openai" and s.evaluator.model == "judge"
    assert s.openai_model == "from-env"


def test_unknown_keys_are_rejected(tmp_path, monkeypatch):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[persona]\nbakend = 'openai'\n")
    monkeypatch.setenv("ACTOR_CONFIG", str(cfg))
    with pytest.raises(ValidationError, match="bakend"):
        Settings()


def test_openai_without_endpoint_says_what_to_set(monkeypatch):
    monkeypatch.setenv("ACTOR_PERSONA__BACKEND", "openai")
    with pytest.raises(ValueError, match="ACTOR_OPENAI_BASE_URL"):
        chat_model("persona", Settings())


def test_switch_blocks_real_calls_loudly(monkeypatch):
    with OpenAIStub() as stub:
        monkeypatch.setenv("ACTOR_PERSONA__BACKEND", "openai")
        monkeypatch.setenv("ACTOR_OPENAI_BASE_URL", stub.base_url)
        model = chat_model("persona", Settings())
        with pytest.raises(ModelRequestsForbidden, match="real_model"):
            model.invoke("hi")
        with pytest.raises(ModelRequestsForbidden):
            list(model.stream("hi"))
        assert stub.requests == []


def test_switch_blocks_the_local_model_before_loading():
    model = LocalChatModel(model_path="/nonexistent.gguf")
    with pytest.raises(ModelRequestsForbidden):
        model.invoke("hi")


@pytest.mark.real_model
def test_openai_compatible_endpoint_over_http(monkeypatch):
    """Against a real HTTP server on loopback: plain, streamed, and the options sent."""
    with OpenAIStub(reply="Ik wil nu mijn geld terug.") as stub:
        monkeypatch.setenv("ACTOR_PERSONA__BACKEND", "openai")
        monkeypatch.setenv("ACTOR_OPENAI_BASE_URL", stub.base_url)
        monkeypatch.setenv("ACTOR_PERSONA__MODEL", "team-model")
        monkeypatch.setenv("ACTOR_PERSONA__SEED", "7")
        model = chat_model("persona", Settings())
        reply = model.invoke([HumanMessage("Goedemiddag, waarmee kan ik u helpen?")], stop=["Medewerker:"])
        assert reply.content == "Ik wil nu mijn geld terug."
        chunks = [c.content for c in model.stream("Goedemiddag")]
        assert len([c for c in chunks if c]) == 6
        assert "".join(chunks) == "Ik wil nu mijn geld terug."
        sent = stub.requests[0]
        assert sent["model"] == "team-model"
        assert sent["seed"] == 7
        assert sent["stop"] == ["Medewerker:"]
        assert sent["messages"][-1]["content"] == "Goedemiddag, waarmee kan ik u helpen?"
        assert stub.requests[1]["stream"] is True


def test_the_scheduler_lets_foreground_work_go_first():
    """Background work waits while foreground work waits or runs; foreground work only waits for
    the computation running now."""
    import threading
    import time

    from actor.llm.local import ModelScheduler

    scheduler = ModelScheduler()
    order: list[str] = []
    with scheduler.turn("background"):
        threads = [threading.Thread(target=lambda: _run(scheduler, "background", order))]
        threads[0].start()
        time.sleep(0.05)
        threads.append(threading.Thread(target=lambda: _run(scheduler, "foreground", order)))
        threads[1].start()
        deadline = time.time() + 5
        while not scheduler.foreground_waiting() and time.time() < deadline:
            time.sleep(0.01)
        assert scheduler.foreground_waiting()  # the running background work sees it and should give way
        threads.append(threading.Thread(target=lambda: _run(scheduler, "prefill", order)))
        threads[2].start()
        while sum(scheduler._waiting) < 3 and time.time() < deadline:
            time.sleep(0.01)
        assert scheduler.should_yield("background") and scheduler.should_yield("prefill")
        assert not scheduler.should_yield("foreground")
    for t in threads:
        t.join(timeout=5)
    assert order == ["foreground", "prefill", "background"]
    assert not scheduler.foreground_waiting()


def _run(scheduler, priority, order):
    with scheduler.turn(priority):
        order.append(priority)


def test_avoid_ngrams_blocks_only_the_token_that_completes_an_earlier_run():
    import numpy as np

    from actor.llm.local import AvoidNgrams

    avoid = AvoidNgrams([[5, 6, 7, 8, 9]], n=5)
    scores = np.zeros(12, dtype=np.float32)
    out = avoid(np.array([1, 5, 6, 7, 8]), scores.copy())
    assert out[9] == -np.inf and np.isfinite(np.delete(out, 9)).all()  # "5 6 7 8" may not go on with 9
    assert np.isfinite(avoid(np.array([1, 2, 6, 7, 8]), scores.copy())).all()  # a shorter shared run is fine
