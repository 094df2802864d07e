"""The embedded backend: a LangChain chat model over llama.cpp (``llama-cpp-python``).

One llama.cpp context is loaded per (model file, context size, threads, slot) and kept for the
life of the process; every :class:`LocalChatModel` with the same key shares it. A context is not
thread-safe, so each has a lock held for the whole of one generation (streamed or not):
concurrent sessions queue instead of interleaving tokens. Different *slots* (by default the
role: ``persona`` / ``evaluator``) get separate contexts, so each keeps its own KV cache and the
prompt prefix of its previous call stays reusable (llama.cpp skips the shared prefix).

Supports streaming, stop sequences, temperature, seed, a token cap and JSON-schema-constrained
output (``response_format={"type": "json_object", "schema": {...}}``, compiled to a grammar by
llama-cpp-python), and :meth:`LocalChatModel.with_structured_output` for pydantic models.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass
class LoadedModel:
    """A llama.cpp context with the lock that serialises its generations.

    ``load_seconds`` is the wall time of loading the file (seconds).
    """

    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    load_seconds: float = 0.0


_LOADED: dict[tuple[str, int, int, str], LoadedModel] = {}
_LOADED_LOCK = threading.Lock()


@atexit.register
def _close_all() -> None:
    """Free llama.cpp contexts before interpreter teardown (avoids noisy ``__del__`` errors)."""
    with _LOADED_LOCK:
        for loaded in _LOADED.values():
            loaded.llama.close()
        _LOADED.clear()


def load_model(model_path: str, n_ctx: int, n_threads: int, slot: str = "default") -> LoadedModel:
    """The process-wide llama.cpp context for this key, loading it on first use.

    Raises ``FileNotFoundError`` when the file is missing and ``RuntimeError`` (with the path)
    when llama.cpp cannot load it.
    """
    key = (str(model_path), n_ctx, n_threads, slot)
    with _LOADED_LOCK:
        loaded = _LOADED.get(key)
        if loaded is None:
            if not Path(model_path).is_file():
                raise FileNotFoundError(f"model file not found: {model_path}")
            from llama_cpp import Llama

            start = time.perf_counter()
            try:
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
    """A background generation gave way to more urgent work (see ``yield_to``); retry later."""


def _preemptible_completion(llama, messages: list[dict], params: dict, yield_to) -> dict:
    """``create_chat_completion`` streamed internally, stopped between tokens as soon as
    ``yield_to()`` is true (raises :class:`Preempted`); returns the same shape as the plain call
    (content, finish reason, usage). The prompt evaluation itself cannot be interrupted, so it
    is not started while ``yield_to()`` is true."""
    if yield_to():
        raise Preempted("waiting for foreground work")
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
    usage = {"prompt_tokens": n_prompt, "completion_tokens": llama.n_tokens - n_prompt, "total_tokens": llama.n_tokens}
    return {"choices": [{"message": {"content": text}, "finish_reason": finish}], "usage": usage}


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
    ``response_format`` (see module docstring) and any of the sampling fields.

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
        return load_model(self.model_path, self.n_ctx, self.n_threads, self.slot)

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
        params = self._params(stop, kwargs)
        loaded = self.loaded()
        queued = time.perf_counter()
        with loaded.lock:
            start = time.perf_counter()
            if yield_to is None:
                out = loaded.llama.create_chat_completion(
                    messages=_to_llama_messages(messages), stream=False, **params
                )
            else:
                out = _preemptible_completion(loaded.llama, _to_llama_messages(messages), params, yield_to)
            seconds = time.perf_counter() - start
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
        check_model_requests_allowed(self.model_name)
        params = self._params(stop, kwargs)
        loaded = self.loaded()
        queued = time.perf_counter()
        with loaded.lock:
            start = time.perf_counter()
            first_token: float | None = None
            finish_reason = None
            for part in loaded.llama.create_chat_completion(
                messages=_to_llama_messages(messages), stream=True, **params
            ):
                choice = part["choices"][0]
                finish_reason = choice.get("finish_reason") or finish_reason
                delta = choice.get("delta", {}).get("content")
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
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        check_model_requests_allowed(self.model_name)
        loaded = self.loaded()
        llama = loaded.llama
        with loaded.lock:
            template = llama.metadata.get("tokenizer.chat_template")
            if template:
                bos = llama._model.token_get_text(llama.token_bos()) if llama.token_bos() != -1 else ""
                eos = llama._model.token_get_text(llama.token_eos()) if llama.token_eos() != -1 else ""
                prompt = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)(
                    messages=_to_llama_messages(messages)).prompt
            else:  # a model without a template: plain turns
                prompt = "".join(f"{m['role']}: {m['content']}\n" for m in _to_llama_messages(messages)) + "assistant:"
            tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            cached = llama.input_ids[: llama.n_tokens].tolist()
            keep = 0
            for a, b in zip(cached, tokens[:-1]):
                if a != b:
                    break
                keep += 1
            llama.n_tokens = keep
            llama.eval(tokens[keep:])
            logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).astype(np.float64)
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
