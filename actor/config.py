"""Settings: ``ACTOR_*`` environment variables, an optional TOML file, and defaults.

Precedence (highest first): keyword arguments, environment variables (``ACTOR_*``; nested
fields with a double underscore, e.g. ``ACTOR_PERSONA__BACKEND=openai``), the TOML file named by
``ACTOR_CONFIG`` (default ``./actor.toml`` when it exists), then the defaults below.

The persona (the customer) and the evaluator (the grader) each have their own
:class:`RoleSettings`, so each can run on the backend that fits it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Backend = Literal["local", "openai", "fake"]


def default_home() -> Path:
    """Where the model cache, the vector store and the database live by default.

    ``$XDG_DATA_HOME/training-actor`` or ``~/.local/share/training-actor``.
    """
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "training-actor"


def available_cores() -> int:
    """The number of CPU cores this process may run on (affinity-aware), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class RoleSettings(BaseModel):
    """How one role (persona or evaluator) reaches its chat model.

    ``backend``: ``local`` (embedded llama.cpp model), ``openai`` (any OpenAI-compatible
    endpoint) or ``fake`` (replays ``fake_responses``, for tests and demos).
    ``base_url`` / ``api_key`` / ``model`` override the shared ``openai_*`` settings for this role.
    ``max_tokens`` caps one reply, in tokens; ``timeout`` is per request, in seconds.
    """

    model_config = ConfigDict(extra="forbid")

    backend: Backend = "local"
    model: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(256, ge=1, le=8192)
    seed: int | None = None
    timeout: float = Field(120.0, gt=0)
    fake_responses: list[str] = Field(default_factory=list)


class Settings(BaseSettings):
    """All configuration of one process. See the module docstring for sources and precedence."""

    model_config = SettingsConfigDict(
        env_prefix="ACTOR_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    home: Path = Field(default_factory=default_home)
    """Root for the model cache, vector store and database."""
    app_host: str = "127.0.0.1"
    """Interface the web app listens on (``0.0.0.0`` to serve a team)."""
    app_port: int = Field(7860, ge=1, le=65535)
    database_url: str | None = None
    """Where sessions are stored: any SQLAlchemy URL (e.g. ``postgresql+psycopg://…``); unset =
    a SQLite file ``actor.db`` in ``home`` (WAL mode)."""

    # --- course material and retrieval ---
    knowledge_dir: Path = Field(default_factory=lambda: Path(__file__).resolve().parents[1] / "knowledge")
    """Folder of the course documents (``<lang>/<kind>/<id>.md``)."""
    chroma_url: str | None = None
    """A Chroma server, e.g. ``http://chroma:8000``; unset = an embedded store under ``home``."""
    chroma_collection: str = "course_material"

    # --- the embedded model (backend "local") ---
    local_model_path: Path | None = None
    """Use this GGUF file instead of the packaged Qwen2.5-Coder-1.5B-Instruct (no checksum)."""
    local_n_ctx: int = Field(4096, ge=512, le=131072)
    """Context window per llama.cpp context, in tokens."""
    local_n_threads: int | None = Field(None, ge=1)
    """CPU threads for llama.cpp; default: the cores available to this process."""
    local_cache_reuse: int = Field(0, ge=0)
    """The customer's prompt: shortest run of cached tokens moved into place when the prompt leaves
    out parts of the previous one (tokens, e.g. 8; 0 = off: only the common prefix is reused, and
    the prompt is evaluated exactly); see :func:`actor.llm.local.reuse_shifted`. Off by default:
    in the actor eval at hard (dev scripts, one seeded run each) it raised fallbacks from 1 to 5 of
    ~130 lines, while the whole-batch prefill already meets the brisk-mode target without it; it
    saves ~50 prefill tokens a turn, for machines whose prompt speed is too slow for that."""

    # --- OpenAI-compatible endpoints (backend "openai") ---
    openai_base_url: str | None = None
    """e.g. https://api.openai.com/v1, http://localhost:11434/v1 (Ollama), http://gpu:8000/v1 (vLLM)."""
    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"

    persona: RoleSettings = Field(default_factory=lambda: RoleSettings(temperature=0.8, max_tokens=96))
    evaluator: RoleSettings = Field(
        default_factory=lambda: RoleSettings(temperature=0.0, max_tokens=768, seed=0)
    )

    @property
    def model_cache_dir(self) -> Path:
        """Folder of the assembled model file."""
        return self.home / "models"

    @property
    def chroma_path(self) -> Path:
        """Folder of the embedded Chroma store (used when ``chroma_url`` is unset)."""
        return self.home / "chroma"

    @property
    def n_threads(self) -> int:
        """Threads for llama.cpp: the setting, or the available cores."""
        return self.local_n_threads or available_cores()

    def role(self, name: Literal["persona", "evaluator"]) -> RoleSettings:
        """The settings of one role; raises ``ValueError`` for an unknown role."""
        if name not in ("persona", "evaluator"):
            raise ValueError(f"unknown role {name!r}: expected 'persona' or 'evaluator'")
        return getattr(self, name)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = config_file_path()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def config_file_path() -> Path | None:
    """The TOML config file in force: ``$ACTOR_CONFIG`` or ``./actor.toml`` if present.

    Raises ``FileNotFoundError`` when ``ACTOR_CONFIG`` names a file that does not exist.
    """
    named = os.environ.get("ACTOR_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ACTOR_CONFIG points to {path}, which does not exist")
        return path
    local = Path("actor.toml")
    return local if local.is_file() else None


def describe_settings_error(exc: Exception) -> str:
    """One line per problem of an invalid configuration: ``field: message (got value)``."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            got = f" (got {err['input']!r})" if err["type"] != "extra_forbidden" and not isinstance(err.get("input"), dict) else ""
            parts.append(f"{field}: {err['msg']}{got}")
        return "; ".join(parts)
    return str(exc)


def load_settings() -> Settings:
    """``Settings()``, or exit with status 2 after one line per invalid field on stderr
    (for entry points: the app and the CLI)."""
    try:
        return Settings()
    except (ValidationError, FileNotFoundError) as exc:
        print(f"invalid settings: {describe_settings_error(exc)}", file=sys.stderr)
        raise SystemExit(2) from exc
