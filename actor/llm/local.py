"""The embedded backend: a LangChain chat model over llama.cpp (``llama-cpp-python``).

One llama.cpp context is loaded per (model file, context size, threads) and kept for the life of
the process: one copy of the weights, one KV cache, shared by every :class:`LocalChatModel` on
that file (the customer and the feedback writer alike). Its :class:`ModelScheduler` runs one
computation at a time and always lets **foreground** work (the customer's line) go first:
**background** work (feedback wording, answer probabilities) evaluates its prompt in slices of
:data:`SLICE_TOKENS` tokens and generates token by token, and gives way between two slices or
tokens as soon as foreground work waits; it resumes afterwards where it stopped (the evaluated part
stays in its KV state), invisibly to the caller. The **prefill** of the customer's next prompt
comes between the two: it goes before background work and evaluates in slices of
:data:`PREFILL_SLICE_TOKENS` (a reply that arrives meanwhile needs the same tokens, so stopping
it early would gain nothing, and small slices halve the prompt speed).

Each *slot* (by default the role: ``persona`` / ``evaluator``) keeps its own KV state: when the
context switches slot, the outgoing slot's sequence is saved (only its used cells, see
:class:`SlotState`) and the incoming one restored, so the prompt prefix of each slot's previous
call stays reusable (llama.cpp skips the shared prefix).

Supports streaming, stop sequences, temperature, seed, a token cap and JSON-schema-constrained
output (``response_format={"type": "json_object", "schema": {...}}``, compiled to a grammar by
llama-cpp-python), and :meth:`LocalChatModel.with_structured_output` for pydantic models.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import BaseModel, ConfigDict

from actor.llm.guard import check_model_requests_allowed

SLICE_TOKENS = 16
"""Prompt tokens background work evaluates between two checks for waiting foreground work: at
the 40–150 tok/s prompt speed of a 2-core laptop, 0.1–0.4 s (measured by
``benchmarks/embedded_model.py``, which also prints what slicing costs in throughput)."""

PREFILL_SLICE_TOKENS = 512
"""Prompt tokens the prefill evaluates between two checks (one llama.cpp batch). Measured on this
2-core machine: slices of 16 tokens evaluate at 65 tok/s, of 64 at 110, of 320 at 130 (every
slice passes over all weights once)."""

Priority = Literal["foreground", "prefill", "background"]
RANK = {"foreground": 0, "prefill": 1, "background": 2}
"""Lower goes first: the customer's line, then the prefill of the customer's next prompt, then
the feedback wording and other background work."""


class ModelScheduler:
    """One computation at a time on a context; more urgent work first.

    :meth:`turn` holds the context for one computation. A request waits for the computation
    running now and for waiting requests of a more urgent :data:`Priority`; running work of a
    less urgent priority gives way within a slice or a token (it polls :meth:`should_yield`).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._waiting = [0, 0, 0]  # waiting requests per rank

    def _more_urgent(self, rank: int) -> bool:
        return any(self._waiting[:rank])

    @contextmanager
    def turn(self, priority: Priority) -> Iterator[float]:
        """Hold the context; yields the seconds waited for it."""
        start = time.perf_counter()
        rank = RANK[priority]
        with self._cond:
            self._waiting[rank] += 1
            try:
                self._cond.wait_for(lambda: not self._busy and not self._more_urgent(rank))
            finally:
                self._waiting[rank] -= 1
            self._busy = True
        try:
            yield time.perf_counter() - start
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def should_yield(self, priority: Priority) -> bool:
        """Whether work of ``priority`` should give way: more urgent work waits."""
        return self._more_urgent(RANK[priority])

    def foreground_waiting(self) -> bool:
        """Whether foreground work (the customer's line) waits for the context."""
        return self._waiting[0] > 0


@dataclass
class SlotState:
    """A slot's saved KV state: the sequence's cells (``data``, bytes) and its tokens."""

    data: bytes
    tokens: list[int]


@dataclass
class LoadedModel:
    """A llama.cpp context with the scheduler that serialises its computations and the saved KV
    states of its slots. ``load_seconds`` is the wall time of loading the file (seconds);
    ``switches``: slot switches so far, ``switch_seconds``: their total time (seconds);
    ``counters``: per priority, prompt tokens evaluated (``<priority>_new_prompt_tokens``, the
    cached prefix excluded) and tokens generated (``<priority>_generated``) — benchmarks reset
    and read them."""

    llama: Any
    scheduler: ModelScheduler = field(default_factory=ModelScheduler)
    load_seconds: float = 0.0
    slot: str | None = None
    saved: dict[str, SlotState] = field(default_factory=dict)
    switches: int = 0
    switch_seconds: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)
    word_starts: dict[int, bool] = field(default_factory=dict, repr=False)
    _word_start_mask: Any = field(default=None, repr=False)

    def word_start_mask(self):
        """A boolean array over the vocabulary: which tokens begin a word (see
        :meth:`word_start`); computed once (~150k tokens detokenised, about a second)."""
        if self._word_start_mask is None:
            import numpy as np

            self._word_start_mask = np.array([self.word_start(t) for t in range(self.llama.n_vocab())], dtype=bool)
        return self._word_start_mask

    def word_start(self, token: int) -> bool:
        """Whether ``token`` begins a word: its text starts with whitespace or is not a letter
        or digit (punctuation, an emoji, a special token). Cached per token id."""
        cache = self.word_starts
        if token not in cache:
            piece = self.llama.detokenize([token]).decode("utf-8", errors="ignore")
            cache[token] = not piece or piece[0].isspace() or not piece[0].isalnum()
        return cache[token]

    def count(self, priority: str, new_prompt_tokens: int, generated: int, moved: int = 0) -> None:
        """Add one computation's token counts to :attr:`counters`."""
        for key, n in (("new_prompt_tokens", new_prompt_tokens), ("generated", generated), ("moved_tokens", moved)):
            self.counters[f"{priority}_{key}"] = self.counters.get(f"{priority}_{key}", 0) + n

    def new_prompt_tokens(self, tokens: list[int]) -> int:
        """How many of the prompt ``tokens`` llama.cpp will evaluate (the cached prefix is
        skipped; at least one token is always evaluated again)."""
        return len(tokens) - min(_cached_prefix(self.llama, tokens), len(tokens) - 1)

    def reuse_cache(self, tokens: list[int], min_chunk: int, priority: str) -> None:
        """With ``min_chunk`` > 0, move cached runs of at least that many of ``tokens`` into place
        (:func:`reuse_shifted`), counted as ``<priority>_moved_tokens``; 0: nothing. Call while
        holding the context."""
        if min_chunk:
            self.count(priority, 0, 0, reuse_shifted(self.llama, tokens, min_chunk))

    def use_slot(self, slot: str) -> None:
        """Make ``slot``'s KV state the context's (call while holding :attr:`scheduler`): the
        current slot's used cells are saved, ``slot``'s restored (or the cache cleared)."""
        if self.slot == slot:
            return
        import llama_cpp

        start = time.perf_counter()
        llama, ctx = self.llama, self.llama.ctx
        if self.slot is not None and llama.n_tokens > 0:
            size = llama_cpp.llama_state_seq_get_size(ctx, 0)
            buf = (ctypes.c_uint8 * size)()
            n = llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0)
            self.saved[self.slot] = SlotState(bytes(memoryview(buf)[:n]), llama.input_ids[: llama.n_tokens].tolist())
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        llama.n_tokens = 0
        state = self.saved.pop(slot, None)
        if state is not None:
            buf = (ctypes.c_uint8 * len(state.data)).from_buffer_copy(state.data)
            if llama_cpp.llama_state_seq_set_data(ctx, buf, len(state.data), 0) == len(state.data):
                llama.input_ids[: len(state.tokens)] = state.tokens
                llama.n_tokens = len(state.tokens)
            else:  # a state that does not fit: start this slot empty
                llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        llama._requires_eval = True
        self.slot = slot
        self.switches += 1
        self.switch_seconds += time.perf_counter() - start


_LOADED: dict[tuple[str, int, int], LoadedModel] = {}
_LOADED_LOCK = threading.Lock()


@atexit.register
def _close_all() -> None:
    """Free llama.cpp contexts before interpreter teardown (avoids noisy ``__del__`` errors)."""
    with _LOADED_LOCK:
        for loaded in _LOADED.values():
            loaded.llama.close()
        _LOADED.clear()


def has_amx() -> bool:
    """Whether this llama.cpp build runs on a CPU with AMX (Intel Sapphire Rapids and later
    Xeons): its system info reports ``AMX_INT8 = 1``."""
    import llama_cpp

    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


@contextmanager
def without_amx_buffers() -> Iterator[None]:
    """While a model loads, on an AMX CPU: no extra weight buffer types. llama.cpp then repacks
    the weights into an AMX buffer, a second copy of ~1 GB, and its AMX matrix multiplication
    crashes on the first evaluation on some of these machines (llama.cpp issue #20824; measured
    here: a segmentation fault in ``llama_decode``, and 126 tok/s prompt without the buffer).
    ``Llama`` takes no argument for it, so its default model parameters are adjusted during
    the load. No effect on other CPUs."""
    import llama_cpp.llama_cpp as lib

    if not has_amx():
        yield
        return
    defaults = lib.llama_model_default_params

    def without_extra():
        params = defaults()
        params.use_extra_bufts = False
        return params

    lib.llama_model_default_params = without_extra
    try:
        yield
    finally:
        lib.llama_model_default_params = defaults


def load_model(model_path: str, n_ctx: int, n_threads: int) -> LoadedModel:
    """The process-wide llama.cpp context for this key, loading it on first use.

    Raises ``FileNotFoundError`` when the file is missing and ``RuntimeError`` (with the path)
    when llama.cpp cannot load it.
    """
    key = (str(model_path), n_ctx, n_threads)
    with _LOADED_LOCK:
        loaded = _LOADED.get(key)
        if loaded is None:
            if not Path(model_path).is_file():
                raise FileNotFoundError(f"model file not found: {model_path}")
            from llama_cpp import Llama

            start = time.perf_counter()
            try:
                with without_amx_buffers():
                    llama = Llama(
                        model_path=str(model_path),
                        n_ctx=n_ctx,
                        n_threads=n_threads,
                        n_threads_batch=n_threads,
                        n_batch=512,
                        verbose=False,
                    )
            except Exception as exc:  # llama.cpp raises ValueError / RuntimeError
                raise RuntimeError(f"llama.cpp could not load {model_path}: {exc}") from exc
            loaded = LoadedModel(llama=llama, load_seconds=time.perf_counter() - start)
            _LOADED[key] = loaded
        return loaded


class Preempted(RuntimeError):
    """A background computation gave way to more urgent work; it is asked again later."""


@functools.lru_cache(maxsize=8)
def _formatter(template: str, eos: str, bos: str):
    """The compiled chat template (compiling it costs ~50 ms; it is the same for every call)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)


def _chat_prompt_tokens(llama, messages: list[dict]) -> list[int]:
    """The tokens of ``messages`` in the model's own chat template with the assistant turn opened
    (as ``create_chat_completion`` builds them)."""
    template = llama.metadata.get("tokenizer.chat_template")
    if template:
        bos = llama._model.token_get_text(llama.token_bos()) if llama.token_bos() != -1 else ""
        eos = llama._model.token_get_text(llama.token_eos()) if llama.token_eos() != -1 else ""
        prompt = _formatter(template, eos, bos)(messages=messages).prompt
    else:  # a model without a template: plain turns
        prompt = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
    return llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)


def _cached_prefix(llama, tokens: list[int]) -> int:
    """How many leading ``tokens`` the context's KV cache already holds."""
    keep = 0
    for x, y in zip(llama.input_ids[: llama.n_tokens].tolist(), tokens):
        if x != y:
            break
        keep += 1
    return keep


def reuse_shifted(llama, tokens: list[int], min_chunk: int) -> int:
    """Cache reuse by KV shifting, as llama.cpp's server does it (``--cache-reuse``): after the
    prefix ``tokens`` share with the cached sequence, runs of at least ``min_chunk`` tokens that
    the cache holds further on, in the same order, are moved down into place (the cells in
    between are removed and the moved keys' rotary positions shifted), so a prompt that equals
    the previous one with some parts left out is not evaluated again from the first part left
    out. The moved cells were computed with the removed parts in view, so their values are an
    approximation of a fresh evaluation (llama.cpp's context shift makes the same trade).

    Call while holding the context. Returns the number of tokens moved (0: nothing to reuse,
    ``min_chunk`` < 1, or a model whose KV cache cannot shift positions). Afterwards the cache
    holds ``tokens[:k]`` for the ``k`` the plain prefix match finds."""
    import llama_cpp

    if min_chunk < 1 or llama.n_tokens == 0:
        return 0
    cached = llama.input_ids[: llama.n_tokens].tolist()
    limit = len(tokens) - 1  # the prompt's last token is always evaluated again
    head = _cached_prefix(llama, tokens)
    if head >= len(cached) or head >= limit:
        return 0
    memory = llama_cpp.llama_get_memory(llama.ctx)
    if not llama_cpp.llama_memory_can_shift(memory):
        return 0
    head_c, head_p, moved = head, head, 0
    while head_c < len(cached) and head_p < limit:
        n = 0
        while head_c + n < len(cached) and head_p + n < limit and cached[head_c + n] == tokens[head_p + n]:
            n += 1
        if n >= min_chunk:
            llama_cpp.llama_memory_seq_rm(memory, 0, head_p, head_c)
            llama_cpp.llama_memory_seq_add(memory, 0, head_c, head_c + n, head_p - head_c)
            head_c += n
            head_p += n
            moved += n
        else:
            head_c += 1
    if moved:
        llama_cpp.llama_memory_seq_rm(memory, 0, head_p, -1)
        llama.input_ids[:head_p] = tokens[:head_p]
        llama.n_tokens = head_p
    return moved


def _eval_prefix(llama, tokens: list[int], stop: Callable[[], bool] | None, slice_tokens: int = SLICE_TOKENS) -> int:
    """Bring ``tokens`` into the KV cache, reusing the longest cached prefix, in slices of
    ``slice_tokens`` with ``stop()`` checked before each (raises :class:`Preempted`; what was
    evaluated stays). Returns the number of tokens evaluated now."""
    keep = _cached_prefix(llama, tokens)
    llama.n_tokens = keep
    done = 0
    for i in range(keep, len(tokens), slice_tokens):
        if stop is not None and stop():
            raise Preempted("gave way to foreground work")
        llama.eval(tokens[i:i + slice_tokens])
        done += min(slice_tokens, len(tokens) - i)
    llama._requires_eval = True
    return done


def _preemptible_completion(loaded: LoadedModel, messages: list[dict], params: dict, yield_to, priority: str,
                            reuse: int = 0, slice_tokens: int = SLICE_TOKENS) -> dict:
    """``create_chat_completion`` for background work: the prompt is evaluated in slices first
    (:func:`_eval_prefix`), then the reply streamed internally; stops between two slices or
    tokens as soon as ``yield_to()`` is true (raises :class:`Preempted`). ``reuse``: the
    minimum run moved into place first (:meth:`LoadedModel.reuse_cache`, counted for
    ``priority``; 0 = none); ``slice_tokens``: see :func:`_eval_prefix`. Returns the same shape
    as the plain call (content, finish reason, usage), usage with ``evaluated_prompt_tokens`` too
    (prompt tokens this call evaluated)."""
    llama = loaded.llama
    tokens = _chat_prompt_tokens(llama, messages)
    loaded.reuse_cache(tokens[:-1], reuse, priority)
    evaluated = _eval_prefix(llama, tokens[:-1], yield_to, slice_tokens)
    parts, finish = [], None
    stream = llama.create_chat_completion(messages=messages, stream=True, **params)
    try:
        for part in stream:
            choice = part["choices"][0]
            finish = choice.get("finish_reason") or finish
            parts.append(choice.get("delta", {}).get("content") or "")
            if yield_to():
                raise Preempted("gave way to foreground work")
    finally:
        stream.close()
    text = "".join(parts)
    n_prompt = llama.n_tokens - len(llama.tokenize(text.encode(), add_bos=False)) if text else llama.n_tokens
    usage = {"prompt_tokens": n_prompt, "completion_tokens": llama.n_tokens - n_prompt, "total_tokens": llama.n_tokens,
             "evaluated_prompt_tokens": evaluated + 1}
    return {"choices": [{"message": {"content": text}, "finish_reason": finish}], "usage": usage}


REPEAT_ALLOWED = 3
"""Tokens of an earlier text a reply may reproduce in a row without penalty (short phrases such
as "mijn pakket" stay free); see :class:`RepeatPenalty`."""
REPEAT_BASE = 2.0
REPEAT_MULTIPLIER = 1.0
"""The run penalty's strength (logits at the allowance; a call may pass ``repeat_strength``).
Measured with ``benchmarks/repetition_controls.py`` on the hard actor eval's transcripts, one
draft per turn: ×2 and ×4 rejected fewer drafts on counter, intimidation and office (25.8 % →
14.6 % / 13.5 %, n=89) but not on phone, held out (12.1 % → 24.2 % / 15.2 %, n=33), and pushed
the model into misspelt words ("limme meter", "geen_meterstand"); so it stays at 1."""


class RepeatPenalty:
    """A llama-cpp-python logits processor in the manner of the DRY sampler ("Don't Repeat
    Yourself", p-e-w, llama.cpp PR #9702), applied at word starts only.

    ``sequences``: token id lists of texts the reply must not reproduce (earlier lines).
    ``word_start(token_id) -> bool``: whether a token begins a word (its text starts with a space
    or is punctuation). ``banned``: token ids that may not be produced at all (``-inf``; e.g.
    "sorry" for a customer at a high escalation level). ``pairs``: ``{first: [second, ...]}``,
    tokens that may not follow ``first`` anywhere in the reply (a banned word of several tokens,
    " bed" + "ank" + "t" = " bedankt": its second token is banned after its first). ``openings``: token id lists a reply may
    not start with: when the reply so far is an opening without its last token, that token gets
    ``-inf`` (the last token is the first token of the opening's last word, so the reply starts
    with another word, never with a misspelt one).

    At each step, for every token that would continue a run the context's tail shares with one of
    ``sequences``, the run's length ``m`` (tokens) is found; when ``m >= allowed`` and the token
    begins a word, its logit drops by ``multiplier * base ** (m - allowed)``. Only word-start
    tokens are penalised, so the model leaves a repeat by choosing another *word*, never by
    misspelling one (blocking any token, as a plain n-gram ban does, made the 1.5B model write
    "jasa" for "jas"). Called once per generated token with ``(input_ids, scores)`` (numpy arrays
    over the whole vocabulary); returns the scores."""

    def __init__(self, sequences: list[list[int]], word_start, banned: Sequence[int] = (),
                 openings: Sequence[Sequence[int]] = (), allowed: int = REPEAT_ALLOWED, base: float = REPEAT_BASE,
                 multiplier: float = REPEAT_MULTIPLIER, first_word_start=None,
                 pairs: dict[int, Sequence[int]] | None = None) -> None:
        self.sequences = [list(s) for s in sequences if s]
        self.pairs = {int(k): sorted(set(v)) for k, v in (pairs or {}).items() if v}
        self.first_word_start = first_word_start
        self.word_start = word_start
        self.banned = sorted(set(banned))
        self.openings = [list(o) for o in openings if o]
        self.prompt_tokens: int | None = None  # set on the first call: what comes after is the reply
        self.allowed, self.base, self.multiplier = allowed, base, multiplier

    def runs(self, tail: Sequence[int]) -> dict[int, int]:
        """``{token: longest run}``: for each token that would continue a run of the end of
        ``tail`` found in a sequence, the length of that run (tokens)."""
        found: dict[int, int] = {}
        if not tail:
            return found
        last = tail[-1]
        for seq in self.sequences:
            for j in range(len(seq) - 1):
                if seq[j] != last:
                    continue
                m = 1
                while m <= j and m < len(tail) and seq[j - m] == tail[-1 - m]:
                    m += 1
                nxt = seq[j + 1]
                if m > found.get(nxt, 0):
                    found[nxt] = m
        return found

    def __call__(self, input_ids, scores):
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        if self.banned:
            scores[self.banned] = -float("inf")
        reply = [int(t) for t in input_ids[self.prompt_tokens:]]
        if not reply and self.first_word_start is not None:  # a continued answer: start a new word
            scores[~self.first_word_start] = -float("inf")
        if reply and reply[-1] in self.pairs:
            scores[self.pairs[reply[-1]]] = -float("inf")
        for opening in self.openings:
            if reply == opening[:-1]:
                scores[opening[-1]] = -float("inf")
        tail = [int(t) for t in input_ids[-64:]]
        for token, m in self.runs(tail).items():
            if m >= self.allowed and self.word_start(token):
                scores[token] -= self.multiplier * self.base ** (m - self.allowed)
        return scores


def steering_processor(loaded: "LoadedModel", avoid: Sequence[str] = (), ban_words: Sequence[str] = (),
                       ban_openings: Sequence[str] = (), continuing: bool = False, strength: float = REPEAT_MULTIPLIER):
    """A ``LogitsProcessorList`` with one :class:`RepeatPenalty`: runs of ``avoid`` texts (each
    tokenised as it starts a line and as it continues one, since a leading space changes the
    tokens) are penalised; none of ``ban_words`` can be produced in any of its spellings (as
    typed, capitalised, after a space): a spelling of one token is banned, one of several
    tokens loses its second token after its first; the reply cannot
    start with any of ``ban_openings`` (phrases as typed, their last word also capitalised and
    written on to the word before, "Ik wil het Pakket", "Ik wil hetpakket"; a phrase of one word
    only when it is several tokens, its second token banned after its first, or punctuation, "("); with
    ``continuing``, its first token must begin a new word (the answer continues a shown text)
    and ``ban_openings`` are what may not follow the shown text (one word or more, each after a
    space). ``strength``: the run penalty's multiplier (logits at the allowance)."""
    from llama_cpp import LogitsProcessorList

    llama = loaded.llama
    seqs = []
    for text in avoid:
        for variant in (text, " " + text):
            seqs.append(llama.tokenize(variant.encode("utf-8"), add_bos=False, special=False))
    tok = lambda text: llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    banned, pairs = set(), {}
    for word in ban_words:
        for variant in {word, word.capitalize(), " " + word, " " + word.capitalize()}:
            ids = tok(variant)
            if len(ids) == 1:
                banned.add(ids[0])
            elif len(ids) > 1:
                pairs.setdefault(ids[0], set()).add(ids[1])
    openings = []
    for phrase in ban_openings:
        head, _, last = phrase.rpartition(" ")
        spellings = {" " + last, " " + last[:1].upper() + last[1:]}  # after a space, as typed and capitalised
        if continuing:  # the reply continues a shown text: it begins with a space, and may be one word
            openings += [(tok(" " + head) if head else []) + tok(v)[:1] for v in spellings]
        elif head:
            openings += [tok(head) + tok(v)[:1] for v in spellings | {last}]  # and run on: "hetpakket"
        elif len(tok(last)) >= 2 or not last.isalnum():  # "Dank" = "D" + "ank": not its second; "(": not at all
            openings.append(tok(last)[:2])
    openings = [list(o) for o in dict.fromkeys(tuple(o) for o in openings)]
    mask = loaded.word_start_mask() if continuing else None
    return LogitsProcessorList([RepeatPenalty(seqs, loaded.word_start, sorted(banned), openings, multiplier=strength,
                                              first_word_start=mask, pairs=pairs)])


def _to_llama_messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    roles = {SystemMessage: "system", HumanMessage: "user", AIMessage: "assistant"}
    out = []
    for m in messages:
        role = m.role if isinstance(m, ChatMessage) else next(
            (r for cls, r in roles.items() if isinstance(m, cls)), None
        )
        if role is None:
            raise ValueError(f"unsupported message type for the local model: {type(m).__name__}")
        out.append({"role": role, "content": m.text})
    return out


def json_schema_of(schema: type[BaseModel] | dict) -> dict:
    """The JSON schema of a pydantic model class, or the dict itself."""
    return schema if isinstance(schema, dict) else schema.model_json_schema()


class LocalChatModel(BaseChatModel):
    """Chat model on a local GGUF file through llama.cpp.

    Fields: ``model_path`` (GGUF file), ``model_name`` (reported id), ``n_ctx`` (tokens),
    ``n_threads``, ``slot`` (contexts are shared per slot), ``temperature``, ``max_tokens``
    (per reply), ``seed`` (``None`` = random), ``stop`` (default stop sequences), ``top_p``,
    ``repeat_penalty``, ``presence_penalty``, ``frequency_penalty`` (llama.cpp applies the three
    penalties to the last 64 generated tokens only, not to the prompt). Extra call kwargs:
    ``response_format`` (see module docstring), ``avoid`` (texts whose runs the reply
    should not reproduce), ``ban_words`` (words it may not say) and ``ban_openings`` (phrases it
    may not start with), see :class:`RepeatPenalty`;
    ``priority`` and any of the sampling fields.

    Each result carries ``usage_metadata`` (prompt / completion tokens) and
    ``response_metadata["timing"]`` with ``seconds`` (wall time of the generation, excluding the
    wait for the lock) and ``queued_seconds``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    model_name: str = "local-gguf"
    n_ctx: int = 4096
    n_threads: int = 2
    slot: str = "default"
    temperature: float = 0.7
    max_tokens: int = 256
    seed: int | None = None
    stop: list[str] | None = None
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    streaming: bool = False
    """When true, ``invoke`` streams internally too (callbacks receive tokens)."""
    caches_prefix: bool = True
    """The context keeps the last prompt's KV cache: a prompt that starts like the previous one
    only evaluates the new tokens (callers may pre-evaluate a known prefix)."""
    supports_avoid: bool = True
    """Calls accept ``avoid``, ``ban_words``, ``ban_openings`` and ``repeat_strength`` (see
    :class:`RepeatPenalty` and :func:`steering_processor`)."""
    supports_continue: bool = True
    """Streamed calls accept ``continue_from``: text the assistant's answer already starts with
    (the prompt ends inside the answer; the stream yields only what follows it)."""
    cache_reuse: int = 0
    """Minimum run of cached tokens (tokens) moved into place when a prompt leaves out parts of
    the previous one (:func:`reuse_shifted`); 0 = only the common prefix is reused (exact).
    For the customer's prompt (``ACTOR_LOCAL_CACHE_REUSE``): its last user turn carries the
    examples and the stage direction, which the next turn's transcript leaves out."""
    priority: Priority = "foreground"
    """``foreground`` (the customer) goes first, then ``prefill``, then ``background`` work;
    less urgent work gives way within a slice (see :class:`ModelScheduler`). A call may pass
    ``priority=`` to override it."""

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "model_path": self.model_path,
            "n_ctx": self.n_ctx,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }

    def loaded(self) -> LoadedModel:
        """The shared llama.cpp context of this model (loads it on first call)."""
        return load_model(self.model_path, self.n_ctx, self.n_threads)

    def _params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "temperature": kwargs.pop("temperature", self.temperature),
            "max_tokens": kwargs.pop("max_tokens", self.max_tokens),
            "top_p": kwargs.pop("top_p", self.top_p),
            "repeat_penalty": kwargs.pop("repeat_penalty", self.repeat_penalty),
            "presence_penalty": kwargs.pop("presence_penalty", self.presence_penalty),
            "frequency_penalty": kwargs.pop("frequency_penalty", self.frequency_penalty),
            "stop": stop if stop is not None else self.stop,
        }
        seed = kwargs.pop("seed", self.seed)
        if seed is not None:
            params["seed"] = seed
        if "response_format" in kwargs:
            params["response_format"] = kwargs.pop("response_format")
        kwargs.pop("priority", None)
        steer = {k: kwargs.pop(k) or () for k in ("avoid", "ban_words", "ban_openings") if k in kwargs}
        continuing = bool(kwargs.pop("continuing", False))
        strength = kwargs.pop("repeat_strength", REPEAT_MULTIPLIER)
        if any(steer.values()) or continuing:
            params["logits_processor"] = steering_processor(self.loaded(), **steer, continuing=continuing, strength=strength)
        if kwargs:
            raise TypeError(f"unsupported arguments for the local model: {sorted(kwargs)}")
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        check_model_requests_allowed(self.model_name)
        yield_to = kwargs.pop("yield_to", None)
        priority = kwargs.get("priority", self.priority)
        params = self._params(stop, kwargs)
        loaded = self.loaded()
        chat = _to_llama_messages(messages)
        queued = time.perf_counter()
        while True:
            with loaded.scheduler.turn(priority):
                loaded.use_slot(self.slot)
                start = time.perf_counter()
                if priority == "foreground" and yield_to is None:
                    tokens = _chat_prompt_tokens(loaded.llama, chat)
                    loaded.reuse_cache(tokens, self.cache_reuse, "foreground")
                    new = loaded.new_prompt_tokens(tokens)
                    out = loaded.llama.create_chat_completion(messages=chat, stream=False, **params)
                    loaded.count("foreground", new, (out.get("usage") or {}).get("completion_tokens", 0))
                else:
                    def waiting(p=priority) -> bool:
                        return loaded.scheduler.should_yield(p)
                    try:
                        out = _preemptible_completion(loaded, chat, params,
                                                      (lambda: waiting() or yield_to()) if yield_to else waiting,
                                                      priority, reuse=self.cache_reuse,
                                                      slice_tokens=PREFILL_SLICE_TOKENS if priority == "prefill" else SLICE_TOKENS)
                        loaded.count(priority, out["usage"]["evaluated_prompt_tokens"], out["usage"]["completion_tokens"])
                    except Preempted:
                        if yield_to is not None and yield_to():
                            raise  # the caller's own condition: it decides when to ask again
                        continue  # gave way to the customer: queue again; the evaluated part is kept
                seconds = time.perf_counter() - start
            break
        usage = out.get("usage") or {}
        choice = out["choices"][0]
        message = AIMessage(
            content=choice["message"].get("content") or "",
            usage_metadata={
                "input_tokens": usage.get("prompt_tokens", 0),
                "output_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
            response_metadata={
                "model_name": self.model_name,
                "finish_reason": choice.get("finish_reason"),
                "timing": {"seconds": seconds, "queued_seconds": start - queued},
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """Streams always run as foreground work (the customer's line). ``continue_from`` (str):
        the answer so far; the model continues it (the chat prompt with the assistant turn
        opened, then this text) and only the continuation is streamed."""
        check_model_requests_allowed(self.model_name)
        prefix = kwargs.pop("continue_from", None) or ""
        params = self._params(stop, {**kwargs, "continuing": bool(prefix)})
        loaded = self.loaded()
        queued = time.perf_counter()
        chat = _to_llama_messages(messages)
        with loaded.scheduler.turn("foreground"):
            loaded.use_slot(self.slot)
            start = time.perf_counter()
            first_token: float | None = None
            finish_reason = None
            generated = 0
            llama = loaded.llama
            tokens = _chat_prompt_tokens(llama, chat)
            if prefix:
                tokens += llama.tokenize(prefix.encode("utf-8"), add_bos=False, special=False)
            loaded.reuse_cache(tokens, self.cache_reuse, "foreground")
            new = loaded.new_prompt_tokens(tokens)
            if prefix:
                parts = llama.create_completion(prompt=tokens, stream=True, **params)
            else:
                parts = llama.create_chat_completion(messages=chat, stream=True, **params)
            for part in parts:
                generated += 1
                if generated == 1:
                    loaded.count("foreground", new, 0)
                loaded.count("foreground", 0, 1)
                choice = part["choices"][0]
                finish_reason = choice.get("finish_reason") or finish_reason
                delta = choice["text"] if prefix else choice.get("delta", {}).get("content")
                if not delta:
                    continue
                if first_token is None:
                    first_token = time.perf_counter() - start
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                if run_manager:
                    run_manager.on_llm_new_token(delta, chunk=chunk)
                yield chunk
            seconds = time.perf_counter() - start
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                response_metadata={
                    "model_name": self.model_name,
                    "finish_reason": finish_reason,
                    "timing": {
                        "seconds": seconds,
                        "first_token_seconds": first_token,
                        "queued_seconds": start - queued,
                    },
                },
            )
        )

    def answer_probabilities(self, messages: list[BaseMessage], answers: dict[str, tuple[str, ...]]) -> dict[str, float]:
        """The model's probability of each answer as the first token of its reply, read from
        llama.cpp's logits after one forward pass (nothing is sampled).

        ``answers``: answer name → the spellings whose first token counts for it (e.g.
        ``{"yes": ("Yes", "yes", "Ja", "ja"), "no": ("No", "no", "Nee", "nee")}``). Returns
        answer name → probability, normalised over the answers (sums to 1). The prompt is the
        model's own chat template with the assistant turn opened; the longest prefix already in
        the KV cache is reused, so questions that share a context cost only their own tokens.
        Raises :class:`~actor.llm.guard.ModelRequestsForbidden` when model calls are switched off.
        """
        import math

        import numpy as np

        check_model_requests_allowed(self.model_name)
        loaded = self.loaded()
        llama = loaded.llama
        chat = _to_llama_messages(messages)
        while True:
            with loaded.scheduler.turn("background"):
                loaded.use_slot(self.slot)
                tokens = _chat_prompt_tokens(llama, chat)
                try:
                    _eval_prefix(llama, tokens[:-1], lambda: loaded.scheduler.should_yield("background"))
                except Preempted:
                    continue
                llama.n_tokens = len(tokens) - 1
                llama.eval(tokens[-1:])
                logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).astype(np.float64)
            break
        top = logits.max()
        log_z = top + math.log(np.exp(logits - top).sum())
        mass: dict[str, float] = {}
        for name, spellings in answers.items():
            ids = {llama.tokenize(s.encode("utf-8"), add_bos=False, special=False)[0] for s in spellings}
            mass[name] = float(sum(math.exp(logits[i] - log_z) for i in ids))
        total = sum(mass.values()) or 1.0
        return {name: m / total for name, m in mass.items()}

    def with_structured_output(
        self,
        schema: type[BaseModel] | dict,
        *,
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable:
        """Constrain the output to ``schema``'s JSON schema and parse it.

        Returns a runnable that yields an instance of ``schema`` (a pydantic class) or a dict
        (a JSON-schema dict). ``include_raw`` is not supported (raises ``NotImplementedError``).
        Parsing errors raise ``langchain_core.exceptions.OutputParserException``.
        """
        if include_raw:
            raise NotImplementedError("include_raw is not supported by the local model")
        bound = self.bind(response_format={"type": "json_object", "schema": json_schema_of(schema)})
        parser = JsonOutputParser() if isinstance(schema, dict) else PydanticOutputParser(pydantic_object=schema)
        return bound | parser
