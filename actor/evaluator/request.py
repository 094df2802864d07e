"""What every part of the judgement shares about one turn and one model call.

:class:`GradeRequest` is one trainee turn as the judgement (:mod:`actor.judgement`), its
feedback wording and the debrief read it; :func:`retrying` asks a model again when its answer
fails a check (:class:`RejectedAnswer`) or the call fails (LangChain's ``with_retry``);
:func:`load_prompt` reads an evaluator prompt file through the one loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from langchain_core.runnables import Runnable
from pydantic import BaseModel

from actor import prompt_files

LANGUAGE_NAMES = {"nl": "Dutch", "en": "English"}
"""The session languages as the English prompt text names them."""


class RejectedAnswer(ValueError):
    """The model answered, but the answer fails a check (no valid verdict, a tone out of range,
    a "why" that praises a failure…): :func:`retrying` asks again."""


def retrying(runnable: Runnable, retries: int, on: tuple[type[BaseException], ...] = (Exception,)) -> Runnable:
    """``runnable`` tried up to ``1 + retries`` times while it raises one of ``on`` (LangChain's
    ``with_retry``, without waiting between attempts); the last attempt's exception is raised."""
    return runnable.with_retry(retry_if_exception_type=on, stop_after_attempt=1 + retries, wait_exponential_jitter=False)


def load_prompt(name: str) -> BaseModel:
    """The evaluator's prompt file ``prompts/evaluator/<name>.yaml`` through the one loader
    (:func:`actor.prompt_files.load`): ``criterion`` → :class:`~actor.prompt_files.CriterionPrompt`,
    ``grade`` → :class:`~actor.prompt_files.GradePrompt`, ``tone``, ``debrief``, ``in_character``
    → their models (each with ``system``, ``user`` and ``.sha256``). Raises
    :class:`~actor.prompt_files.PromptFileError` for an invalid file, ``KeyError`` for a name
    that is not one of them."""
    return prompt_files.load(f"evaluator/{name}.yaml")


@dataclass(frozen=True)
class GradeRequest:
    """Everything the grader needs about one turn.

    ``level`` is the customer's escalation level (0–4) when they spoke ``customer_line``;
    ``scenario`` is the scenario's title, ``scenario_id`` its id (``counter``; empty when
    unknown: the bank's worked examples are found by it);
    ``policy`` holds the scenario's policy facts shown to the model (retrieved text);
    ``policy_text`` the whole policy document, which the deterministic checks search for the
    amounts and times the employee may promise (default: ``policy`` joined).
    """

    lang: str
    customer_line: str
    reply: str
    level: int
    aggression_type: str = "frustration"
    tactic: str | None = None
    scenario: str = ""
    policy: list[str] = field(default_factory=list)
    policy_text: str = ""
    scenario_id: str = ""

    @property
    def allowed(self) -> str:
        """What the rule checks compare promises with."""
        return self.policy_text or " ".join(self.policy)


