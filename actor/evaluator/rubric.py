"""The rubric as data: ``prompts/rubric.yaml``, validated, with its applicability rules.

The seven criterion ids are fixed by the product brief (they are the columns of the gold set
and of every export). Which criteria apply to a reply is decided here, by rules on the
persona state, never by the model (see :func:`applicable`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from actor import prompt_files
from actor.domain import PROMPTS_DIR, Bilingual, Lang  # noqa: F401  (re-exported)

CRITERIA: tuple[str, ...] = (
    "stays_calm",
    "acknowledges_emotion",
    "listens_and_explores",
    "sets_boundary",
    "takes_control",
    "no_false_promises",
    "escalates_safely",
)
BOUNDARY_TACTICS = frozenset(
    {"belittle", "name_drop", "rules_for_others", "false_claim", "insult", "intimidate", "threaten_review"}
)

class Examples(BaseModel):
    """One passing and one failing example reply (``pass`` in the file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    good: Bilingual = Field(alias="pass")
    bad: Bilingual = Field(alias="fail")


class Criterion(BaseModel):
    """One rubric criterion: id, applicability rule, texts, observable checks, examples.

    ``missed``: what a failing reply did not do, worded to follow "In “<the reply's words>”"
    (Dutch with the verb first: "benoem je het gevoel van de klant niet"; English as a clause:
    "you do not name the customer's feeling"); the feedback's reason for a failure
    (:func:`actor.judgement.wording.reason`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    applies: Literal["always", "below_threat", "boundary_needed", "threat_only"]
    name: Bilingual
    passes_when: Bilingual
    missed: Bilingual
    checks: tuple[Bilingual, ...]
    examples: Examples

    @field_validator("checks")
    @classmethod
    def _two_to_five(cls, v: tuple) -> tuple:
        if not 2 <= len(v) <= 5:
            raise ValueError("a criterion needs 2 to 5 checks")
        return v


class Rubric(prompt_files.PromptModel):
    """The whole rubric (``prompts/rubric.yaml``); unknown keys rejected. ``sha256`` (the hash
    of the file it was loaded from) is set by the loader, never by the file."""

    version: int
    criteria: tuple[Criterion, ...]

    @field_validator("criteria")
    @classmethod
    def _fixed_ids(cls, v: tuple[Criterion, ...]) -> tuple[Criterion, ...]:
        ids = tuple(c.id for c in v)
        if ids != CRITERIA:
            raise ValueError(f"criteria must be exactly {list(CRITERIA)} in this order, got {list(ids)}")
        return v

    def criterion(self, cid: str) -> Criterion:
        """The criterion with id ``cid``; ``KeyError`` when unknown."""
        for c in self.criteria:
            if c.id == cid:
                return c
        raise KeyError(cid)


def load_rubric(path: Path | None = None) -> Rubric:
    """Load and validate a rubric file (default ``prompts/rubric.yaml``).

    Raises :class:`actor.prompt_files.PromptFileError` (a ``ValueError``: unknown keys, wrong
    ids, 2–5 checks, a ``sha256`` key) or ``FileNotFoundError``.
    """
    if path is None:
        return default_rubric()
    return prompt_files.read(path, "rubric.yaml")


def default_rubric() -> Rubric:
    """The shipped rubric, read once per process (immutable) until
    :func:`actor.prompt_files.reload`. Raises as :func:`load_rubric`."""
    return prompt_files.load("rubric.yaml")


def applicable(rubric: Rubric, level: int, aggression_type: str | None = None, tactic: str | None = None) -> list[str]:
    """Ids of the criteria that apply to a reply to a customer line at escalation ``level`` (0–4).

    Rules (see the header of ``prompts/rubric.yaml``): ``below_threat`` criteria apply at L0–L3;
    ``threat_only`` at L4; ``boundary_needed`` at L3+, for white-collar aggression, or when the
    customer's tactic is a personal attack, manipulation or threat. Raises ``ValueError`` for a
    level outside 0–4.
    """
    if not 0 <= level <= 4:
        raise ValueError(f"escalation level must be 0-4, got {level}")
    boundary = level >= 3 or aggression_type == "white_collar" or (tactic in BOUNDARY_TACTICS)
    rule = {"always": True, "below_threat": level <= 3, "boundary_needed": boundary, "threat_only": level == 4}
    return [c.id for c in rubric.criteria if rule[c.applies]]
