"""One switch that forbids real model calls (for unit tests).

Set ``ACTOR_ALLOW_MODEL_REQUESTS=0`` and every call to a real backend (the embedded llama.cpp
model or an OpenAI-compatible endpoint) raises :class:`ModelRequestsForbidden` before any work is
done. The test suite sets it in ``tests/conftest.py``; tests marked ``real_model`` lift it.
Fake models are never affected. The variable is read at call time, so flipping it takes effect
at once.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

ENV_SWITCH = "ACTOR_ALLOW_MODEL_REQUESTS"


class ModelRequestsForbidden(RuntimeError):
    """A real model was called while ``ACTOR_ALLOW_MODEL_REQUESTS`` is off."""


def model_requests_allowed() -> bool:
    """True unless ``ACTOR_ALLOW_MODEL_REQUESTS`` is ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in {"0", "false", "no", "off"}


def check_model_requests_allowed(model_name: str) -> None:
    """Raise :class:`ModelRequestsForbidden` when real model calls are switched off."""
    if not model_requests_allowed():
        raise ModelRequestsForbidden(
            f"real model call to {model_name} while {ENV_SWITCH}=0: "
            "use a fake model in unit tests, or mark the test `real_model`"
        )


class RealModelGuard(BaseCallbackHandler):
    """Callback attached to every real chat model: refuses the call when the switch is off."""

    raise_error = True

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        check_model_requests_allowed(self.model_name)

    def on_llm_start(self, serialized: Any, prompts: Any, **kwargs: Any) -> None:
        check_model_requests_allowed(self.model_name)
