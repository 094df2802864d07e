"""The model seam: one function turns settings into a LangChain chat model.

>>> from actor.config import Settings
>>> from actor.llm import chat_model
>>> persona = chat_model("persona", Settings())      # the embedded model by default

Backends (per role, ``Settings.persona.backend`` / ``Settings.evaluator.backend``):

- ``local``: :class:`~actor.llm.local.LocalChatModel` over the packaged GGUF (or
  ``ACTOR_LOCAL_MODEL_PATH``); no network.
- ``openai``: ``langchain_openai.ChatOpenAI`` against any OpenAI-compatible endpoint (OpenAI,
  vLLM, Ollama, LM Studio, llama.cpp's server).
- ``fake``: LangChain's ``FakeListChatModel`` replaying ``fake_responses`` (tests, demos).

Real backends carry a :class:`~actor.llm.guard.RealModelGuard`, so ``ACTOR_ALLOW_MODEL_REQUESTS=0``
makes any real call fail loudly.
"""

from __future__ import annotations

from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from actor.config import Settings
from actor.llm.guard import ModelRequestsForbidden, RealModelGuard, model_requests_allowed
from actor.llm.local import LocalChatModel
from actor.llm.modelfile import EMBEDDED_MODEL, ModelFileError, ensure_embedded_model

__all__ = [
    "chat_model",
    "json_mode",
    "local_model_file",
    "model_id",
    "ModelFileError",
    "ModelRequestsForbidden",
    "model_requests_allowed",
    "preemptible",
]

Role = Literal["persona", "evaluator"]


def local_model_file(settings: Settings) -> tuple[str, str]:
    """``(path, model id)`` of the GGUF the local backend uses.

    ``ACTOR_LOCAL_MODEL_PATH`` wins (an organisation's own GGUF, used as is); otherwise the
    packaged model is assembled and verified in the cache on first use. Raises
    :class:`ModelFileError` or ``FileNotFoundError`` with what to do.
    """
    if settings.local_model_path is not None:
        path = settings.local_model_path.expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ACTOR_LOCAL_MODEL_PATH={path} does not exist")
        return str(path), path.name
    return str(ensure_embedded_model(settings.model_cache_dir)), EMBEDDED_MODEL.name


def model_id(role: Role, settings: Settings) -> str:
    """A readable id of the model a role uses (stored with every generated turn)."""
    rs = settings.role(role)
    if rs.backend == "local":
        return settings.local_model_path.name if settings.local_model_path else EMBEDDED_MODEL.name
    if rs.backend == "openai":
        return f"openai:{rs.model or settings.openai_model}@{rs.base_url or settings.openai_base_url or 'api.openai.com'}"
    return "fake"


def json_mode(model: BaseChatModel, schema: dict, name: str = "answer"):
    """``model`` bound so that its output is JSON matching ``schema`` (a JSON-schema dict).

    The embedded model gets a grammar (``response_format={"type": "json_object", "schema": …}``,
    the output cannot deviate); OpenAI-compatible endpoints get ``response_format``
    ``json_schema`` (non-strict, so vLLM / Ollama accept it); fakes are returned as they are.
    Returns a runnable producing an ``AIMessage`` whose text is the JSON.
    """
    if isinstance(model, LocalChatModel):
        return model.bind(response_format={"type": "json_object", "schema": schema})
    from langchain_openai import ChatOpenAI

    if isinstance(model, ChatOpenAI):
        return model.bind(response_format={"type": "json_schema", "json_schema": {"name": name, "schema": schema}})
    return model


def preemptible(runnable, yield_to):
    """``runnable`` (a model or :func:`json_mode` binding) whose local generations stop between
    tokens while ``yield_to()`` is true, raising :class:`~actor.llm.local.Preempted` (background
    grading gives way to the customer's line). Other backends are returned unchanged: a remote
    server runs requests in parallel."""
    model = getattr(runnable, "bound", runnable)
    if isinstance(model, LocalChatModel):
        return runnable.bind(yield_to=yield_to)
    return runnable


def invoke_when_idle(chain, messages, before_call):
    """``chain.invoke(messages)`` after ``before_call()`` (which waits while more urgent work
    runs); a call stopped by :func:`preemptible` waits again and is asked again."""
    from actor.llm.local import Preempted

    while True:
        before_call()
        try:
            return chain.invoke(messages)
        except Preempted:
            continue


def chat_model(role: Role, settings: Settings, *, streaming: bool = False, slot: str | None = None) -> BaseChatModel:
    """The chat model for ``role`` (``"persona"`` or ``"evaluator"``) per ``settings``.

    ``streaming=True`` makes ``invoke`` stream internally (``.stream()`` always streams).
    ``slot`` (local backend): the KV-cache slot, default the role; a job with its own stable
    prompt prefix gets its own slot so other calls do not evict it. On the local backend both
    roles share one context (one copy of the weights): the persona runs as foreground work, the
    evaluator as background work that gives way to it (:class:`~actor.llm.local.ModelScheduler`).
    Raises ``ValueError`` for an unknown role or an ``openai`` backend without a base URL
    and API key, :class:`ModelFileError` when the embedded model cannot be assembled.
    """
    rs = settings.role(role)
    # an explicit streaming=False would switch .stream() off too, so only pass True
    stream_opt = {"streaming": True} if streaming else {}
    if rs.backend == "fake":
        return FakeListChatModel(responses=rs.fake_responses or ["…"])
    if rs.backend == "local":
        path, name = local_model_file(settings)
        return LocalChatModel(
            model_path=path,
            model_name=name,
            n_ctx=settings.local_n_ctx,
            n_threads=settings.n_threads,
            slot=slot or role,
            priority="foreground" if role == "persona" else "background",
            cache_reuse=settings.local_cache_reuse if role == "persona" else 0,  # the evaluator's prompts stay exact
            temperature=rs.temperature,
            max_tokens=rs.max_tokens,
            seed=rs.seed,
            callbacks=[RealModelGuard(name)],
            **stream_opt,
        )
    if rs.backend == "openai":
        from langchain_openai import ChatOpenAI

        base_url = rs.base_url or settings.openai_base_url
        api_key = rs.api_key or settings.openai_api_key
        if api_key is None and base_url is None:
            raise ValueError(
                f"{role} backend is 'openai' but no endpoint is configured: "
                "set ACTOR_OPENAI_BASE_URL (and ACTOR_OPENAI_API_KEY for hosted APIs)"
            )
        name = rs.model or settings.openai_model
        return ChatOpenAI(
            model=name,
            base_url=base_url,
            # local servers (Ollama, vLLM, llama.cpp) accept any key
            api_key=api_key.get_secret_value() if api_key else "not-needed",
            temperature=rs.temperature,
            max_tokens=rs.max_tokens,
            seed=rs.seed,
            timeout=rs.timeout,
            max_retries=1,
            stream_usage=True,
            **stream_opt,
            callbacks=[RealModelGuard(model_id(role, settings))],
        )
    raise ValueError(f"unknown backend {rs.backend!r}")  # pragma: no cover - Literal guards it
