"""The model seam: backend selection from settings, the no-real-calls switch for the local model
(the OpenAI-compatible path: ``tests/test_openai_compatible.py``)."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_openai import ChatOpenAI
from pydantic import ValidationError

from actor.config import Settings
from actor.llm import ModelRequestsForbidden, chat_model
from actor.llm.local import LocalChatModel


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


def test_switch_blocks_the_local_model_before_loading():
    model = LocalChatModel(model_path="/nonexistent.gguf")
    with pytest.raises(ModelRequestsForbidden):
        model.invoke("hi")


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


def test_repeat_penalty_grows_with_the_run_and_spares_word_pieces():
    import numpy as np

    from actor.llm.local import RepeatPenalty

    word_start = lambda t: t != 9  # token 9 continues a word
    pen = RepeatPenalty([[5, 6, 7, 8, 9, 10]], word_start, banned=[3], allowed=3, base=2.0, multiplier=1.0)
    assert pen.runs([1, 5, 6, 7]) == {8: 3}
    out = pen(np.array([1, 5, 6, 7]), np.zeros(12, dtype=np.float32))
    assert out[8] == -1.0 and out[3] == -np.inf  # a run of 3 going on: penalty base**0; banned token gone
    assert np.count_nonzero(out) == 2
    out = pen(np.array([5, 6, 7, 8]), np.zeros(12, dtype=np.float32))
    assert out[9] == 0.0  # token 9 is inside a word: never penalised, so nothing gets misspelt
    out = pen(np.array([5, 6, 7, 8, 9]), np.zeros(12, dtype=np.float32))
    assert out[10] == -4.0  # a run of 5: base**2
    out = pen(np.array([1, 2, 6, 7]), np.zeros(12, dtype=np.float32))
    assert out[8] == 0.0 and out[3] == -np.inf  # a run of 2 is below ``allowed``


def test_a_banned_opening_is_blocked_only_at_the_start_of_the_reply():
    import numpy as np

    from actor.llm.local import RepeatPenalty

    pen = RepeatPenalty([], lambda t: True, openings=[[20, 21]])  # "Ik" + " begr(ijp)"
    prompt = [1, 2, 3]
    assert pen(np.array(prompt), np.zeros(30, dtype=np.float32)).any() == False  # nothing generated yet: no ban
    out = pen(np.array(prompt + [20]), np.zeros(30, dtype=np.float32))
    assert out[21] == -np.inf and np.count_nonzero(out) == 1  # "Ik" so far: not " begr"
    out = pen(np.array(prompt + [25, 20]), np.zeros(30, dtype=np.float32))
    assert np.count_nonzero(out) == 0  # later in the reply "Ik begrijp" is allowed
    after = RepeatPenalty([], lambda t: True, openings=[[21]])  # continuing a shown "Ik": not " begr" next
    assert after(np.array(prompt), np.zeros(30, dtype=np.float32))[21] == -np.inf
    assert np.count_nonzero(after(np.array(prompt + [22]), np.zeros(30, dtype=np.float32))) == 0


def test_banned_openings_are_tokenised_as_the_reply_would_start():
    from types import SimpleNamespace

    from actor.llm.local import steering_processor

    vocab = {"Dank": [35, 1180], "Sorry": [7], "Dat is": [40, 41], " goed": [42, 43], " Dank": [50], " Goed": [44],
             "goed": [45, 43], "(": [9]}
    llama = SimpleNamespace(tokenize=lambda text, add_bos, special: vocab[text.decode()])
    loaded = SimpleNamespace(llama=llama, word_start=lambda t: True)
    pen = steering_processor(loaded, ban_openings=["Dank", "Sorry", "Dat is goed", "("])[0]
    # "D" + "ank": not "ank"; one token ("Sorry") is for ban_words; "Dat is" + " goed", " Goed" or "goed"; "(" not at all
    assert sorted(pen.openings) == sorted([[35, 1180], [40, 41, 42], [40, 41, 44], [40, 41, 45], [9]])


def test_a_banned_word_of_several_tokens_loses_its_second_token_anywhere():
    from types import SimpleNamespace

    import numpy as np

    from actor.llm.local import steering_processor

    vocab = {"bedankt": [60, 61, 62], "Bedankt": [63, 61, 62], " bedankt": [64, 61, 62], " Bedankt": [65, 61, 62],
             "sorry": [7], "Sorry": [8], " sorry": [9], " Sorry": [10]}
    llama = SimpleNamespace(tokenize=lambda text, add_bos, special: vocab[text.decode()])
    pen = steering_processor(SimpleNamespace(llama=llama, word_start=lambda t: True), ban_words=["bedankt", "sorry"])[0]
    assert pen.banned == [7, 8, 9, 10] and pen.pairs == {60: [61], 63: [61], 64: [61], 65: [61]}
    prompt = [1, 2, 3]
    pen(np.array(prompt), np.zeros(70, dtype=np.float32))
    out = pen(np.array(prompt + [20, 21, 64]), np.zeros(70, dtype=np.float32))  # "... bed": not "ank"
    assert out[61] == -np.inf and np.isfinite(out[62])
    assert np.isfinite(pen(np.array(prompt + [20, 21]), np.zeros(70, dtype=np.float32))[61])  # elsewhere "ank" is fine
