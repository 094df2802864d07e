"""The embedded model through the seam (real llama.cpp; slow, runs in CI)."""

from __future__ import annotations

import threading
from typing import Literal

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from actor.llm import chat_model
from actor.llm.local import LocalChatModel

pytestmark = pytest.mark.real_model


class Verdict(BaseModel):
    reason: str
    verdict: Literal["pass", "fail"]


def test_short_generation(real_settings):
    model = chat_model("persona", real_settings)
    reply = model.invoke(
        [SystemMessage("Answer with one short sentence."), HumanMessage("What colour is the sky on a clear day?")],
        max_tokens=24,
        temperature=0.0,
    )
    assert "blue" in reply.text.lower()
    assert reply.usage_metadata["input_tokens"] > 5
    assert 0 < reply.usage_metadata["output_tokens"] <= 24


def test_json_schema_constrained_output_parses(real_settings):
    judge = chat_model("evaluator", real_settings).with_structured_output(Verdict)
    result = judge.invoke(
        [
            SystemMessage("You grade a service employee's reply. Give a one-sentence reason, then the verdict."),
            HumanMessage('Customer: "Where is my parcel?!"\nEmployee: "Shut up, you idiot."\nDid the employee stay calm?'),
        ]
    )
    assert isinstance(result, Verdict)
    assert result.verdict == "fail"
    assert result.reason.strip()


def test_streaming_and_stop_sequences(real_settings):
    model = chat_model("persona", real_settings)
    chunks = list(
        model.stream(
            [HumanMessage("Count from 1 to 10, separated by commas.")],
            stop=["6"],
            temperature=0.0,
            max_tokens=40,
        )
    )
    text = "".join(c.text for c in chunks)
    assert len([c for c in chunks if c.text]) >= 3, "tokens should arrive one by one"
    assert "5" in text and "6" not in text
    full = chunks[0]
    for c in chunks[1:]:
        full += c
    timing = full.response_metadata["timing"]
    assert 0 < timing["first_token_seconds"] <= timing["seconds"]


def test_a_started_answer_is_continued_not_restarted(real_settings):
    model = chat_model("persona", real_settings)
    assert model.supports_continue
    ask = [HumanMessage("Count from 1 to 10, separated by commas.")]
    rest = "".join(c.text for c in model.stream(ask, continue_from="1, 2, 3, 4,", temperature=0.0, max_tokens=12, stop=["8"]))
    assert rest.lstrip().startswith("5") and "1, 2" not in rest  # only the continuation comes back
    assert "7" in rest and "8" not in rest
    echo = [HumanMessage('Repeat exactly: "Waarom doe je zo moeilijk?"')]
    rests = ["".join(c.text for c in model.stream(echo, continue_from="Waar", seed=seed, max_tokens=6)) for seed in (1, 2, 3)]
    assert any(rests) and not any(r[:1].isalnum() for r in rests), rests  # "Waar" never becomes "Waarom"


def test_concurrent_sessions_do_not_interleave(real_settings):
    """Two threads on one shared context get the same answers as when run one after the other."""
    model = chat_model("persona", real_settings)
    assert isinstance(model, LocalChatModel)
    prompts = ["Name three fruits.", "Name three colours."]
    kwargs = dict(temperature=0.0, max_tokens=20, seed=1)
    sequential = [model.invoke(p, **kwargs).text for p in prompts]
    results: dict[int, str] = {}

    def run(i: int) -> None:
        results[i] = "".join(c.text for c in model.stream(prompts[i], **kwargs))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [results[0], results[1]] == sequential
    assert model.loaded() is chat_model("persona", real_settings).loaded(), "the context is loaded once"


def test_a_background_generation_gives_way_between_tokens(real_settings):
    import threading
    import time

    from actor.llm import preemptible
    from actor.llm.local import Preempted

    model = chat_model("evaluator", real_settings)
    question = [HumanMessage("Count from 1 to 60, separated by commas.")]
    urgent = threading.Event()
    plain = model.invoke(question, max_tokens=24, temperature=0.0)
    same = preemptible(model, lambda: False).invoke(question, max_tokens=24, temperature=0.0)
    assert same.text == plain.text and same.text  # not preempted: the same answer as a plain call

    timer = threading.Timer(1.5, urgent.set)
    timer.start()
    start = time.perf_counter()
    with pytest.raises(Preempted):
        preemptible(model, urgent.is_set).invoke(question, max_tokens=400, temperature=0.0)
    assert time.perf_counter() - start < 6.0  # 400 tokens would take ~15 s; it stopped soon after the signal
    with pytest.raises(Preempted):  # while the urgent work runs, it does not even start
        preemptible(model, urgent.is_set).invoke(question, max_tokens=8)


def test_both_roles_share_one_context_and_keep_their_own_prompt_prefix(real_settings):
    """One copy of the weights: the customer and the feedback writer use the same context; each
    slot's KV state is saved and restored, so the customer's next prompt only evaluates its new
    tokens even after the writer ran in between."""
    persona, evaluator = chat_model("persona", real_settings), chat_model("evaluator", real_settings)
    loaded = persona.loaded()
    assert evaluator.loaded() is loaded
    story = "You are an irritated customer at a parcel counter. " * 12
    persona.invoke([SystemMessage(story), HumanMessage("Employee: Hello.")], max_tokens=4, temperature=0.0)
    evaluator.invoke([SystemMessage("You grade replies. " * 12), HumanMessage("Reply: Hello.")], max_tokens=4)
    loaded.counters.clear()
    again = persona.invoke([SystemMessage(story), HumanMessage("Employee: Hello. How can I help?")], max_tokens=4,
                           temperature=0.0)
    assert again.text
    assert 0 < loaded.counters["foreground_new_prompt_tokens"] < 30  # the system text (~150 tokens) came from the saved state


def test_background_work_gives_way_to_the_customer_and_resumes(real_settings):
    """A background call that is running when the customer's line is asked for stops within a
    slice or a token, lets the line go first, and then finishes with the answer it would have
    given anyway."""
    import time

    persona, evaluator = chat_model("persona", real_settings), chat_model("evaluator", real_settings)
    question = [SystemMessage("You count carefully. " * 40), HumanMessage("Count from 1 to 40, separated by commas.")]
    kw = dict(max_tokens=60, temperature=0.0, seed=3)
    alone = evaluator.invoke(question, **kw).text
    evaluator.loaded().use_slot("elsewhere")  # forget the cached prompt: the background call evaluates it again
    done: list[tuple[str, float]] = []
    result: dict[str, str] = {}

    def background() -> None:
        result["text"] = evaluator.invoke(question, **kw).text
        done.append(("background", time.perf_counter()))

    worker = threading.Thread(target=background)
    worker.start()
    time.sleep(0.5)
    line = "".join(c.text for c in persona.stream([HumanMessage("Say: good afternoon.")], max_tokens=8, temperature=0.0))
    done.append(("customer", time.perf_counter()))
    worker.join(timeout=300)
    assert line and [name for name, _ in done] == ["customer", "background"]
    assert result["text"] == alone


def test_a_prompt_that_leaves_out_earlier_parts_reuses_the_rest_of_the_cache(real_settings):
    """The customer's next prompt drops the last turn's examples and stage direction: the reply
    and the customer's line after them are moved into place in the KV cache, not evaluated again;
    the cache stays one contiguous sequence, and the next-token distribution stays close to that of
    a fresh evaluation (the moved cells saw the dropped text)."""
    import llama_cpp
    import numpy as np

    from actor.llm.local import _chat_prompt_tokens, _to_llama_messages, reuse_shifted

    settings = real_settings.model_copy(update={"local_cache_reuse": 8})
    persona = chat_model("persona", settings)
    assert persona.cache_reuse == 8 and chat_model("evaluator", settings).cache_reuse == 0
    assert chat_model("persona", real_settings).cache_reuse == 0  # off by default: exact prompts
    loaded = persona.loaded()
    llama = loaded.llama
    system = SystemMessage("Je bent een geïrriteerde klant aan de balie van een pakketpunt. " * 4)
    head = "(Voorbeelden:\n- Waar is mijn pakket nou?\n- Dit is de derde keer!\nJe voelt je boos.)\n\nMedewerker: "
    reply = "Ik begrijp dat dit vervelend is, ik kijk nu meteen in het systeem waar uw pakket ligt."
    first = [system, HumanMessage("Begin."), AIMessage("Waar is mijn pakket?"),
             HumanMessage(f"{head}{reply} \n\n(Regie: de medewerker erkent je ergernis.)")]
    line = persona.invoke(first, max_tokens=24, temperature=0.0).text.strip()
    later = [system, HumanMessage("Begin."), AIMessage("Waar is mijn pakket?"), HumanMessage(f"Medewerker: {reply}"),
             AIMessage(line), HumanMessage(head)]
    with loaded.scheduler.turn("foreground"):
        loaded.use_slot(persona.slot)
        tokens = _chat_prompt_tokens(llama, _to_llama_messages(later))
        moved = reuse_shifted(llama, tokens, persona.cache_reuse)
        memory = llama_cpp.llama_get_memory(llama.ctx)
        assert moved >= 20, "the reply and the line come from the cache"
        assert llama.input_ids[: llama.n_tokens].tolist() == tokens[: llama.n_tokens]
        assert llama_cpp.llama_memory_seq_pos_min(memory, 0) == 0
        assert llama_cpp.llama_memory_seq_pos_max(memory, 0) == llama.n_tokens - 1  # no holes, nothing stale after it
        llama.eval(tokens[llama.n_tokens:])
        reused = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).astype(np.float64).copy()
        loaded.use_slot("fresh")
        llama.eval(tokens)
        fresh = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).astype(np.float64).copy()
    p, q = (np.exp(x - x.max()) / np.exp(x - x.max()).sum() for x in (fresh, reused))
    # approximate by design: the likeliest token agrees, the third may swap with a near tie (seen in CI)
    assert np.argmax(fresh) in np.argsort(-reused)[:3] and np.argmax(reused) in np.argsort(-fresh)[:3]
    assert float((p * (np.log(p + 1e-12) - np.log(q + 1e-12))).sum()) < 0.5  # KL in nats; measured 0.11
