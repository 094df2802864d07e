"""Test configuration.

Real model calls are forbidden by default (``ACTOR_ALLOW_MODEL_REQUESTS=0``); a test marked
``real_model`` lifts the switch and runs on the embedded model (slow; runs in CI). Every test
gets its own ``ACTOR_HOME`` so nothing touches the user's data, except the model cache, which is
shared (assembling 1.1 GB per test would be wasteful).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from actor.llm.guard import ENV_SWITCH

os.environ[ENV_SWITCH] = "0"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    for key in list(os.environ):
        if key.startswith("ACTOR_") and key != ENV_SWITCH:
            monkeypatch.delenv(key)
    monkeypatch.setenv("ACTOR_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    real = request.node.get_closest_marker("real_model") is not None
    monkeypatch.setenv(ENV_SWITCH, "1" if real else "0")


@pytest.fixture(scope="session")
def model_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home shared by all real-model tests: the model file is assembled once per run.

    ``ACTOR_TEST_HOME`` reuses a home across runs (CI sets it to keep the assembled file).
    """
    shared = os.environ.get("ACTOR_TEST_HOME")
    return Path(shared) if shared else tmp_path_factory.mktemp("shared-home")


@pytest.fixture
def real_settings(model_cache_home: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings for the embedded model, with the shared model cache."""
    from actor.config import Settings

    monkeypatch.setenv("ACTOR_HOME", str(model_cache_home))
    return Settings()
