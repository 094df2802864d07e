"""Scenarios as data: ``prompts/scenarios/<id>.yaml``, validated (unknown keys rejected).

A scenario holds everything bilingual the actor needs (setting, customer profile, what the
customer wants, hidden facts revealed only when asked, opening line) and three difficulties
that set the persona's starting state and how it reacts (see :mod:`actor.persona.state`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from actor import prompt_files
from actor.domain import PROMPTS_DIR, Bilingual
from actor.prompt_files import PromptModel

AggressionType = Literal["frustration", "instrumental", "white_collar"]
DifficultyName = Literal["easy", "medium", "hard"]


class Difficulty(BaseModel):
    """How hard the customer is to handle.

    ``start_level``: escalation level of the opening line (0–4); ``good_moves_to_deescalate``:
    fitting moves in a row needed to come down one level; ``escalation_step``: levels added by
    a provoking move (1 or 2); ``pressure_after``: for instrumental and white-collar customers,
    the number of turns without a clear boundary after which they push one level up.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    start_level: int = Field(ge=0, le=4)
    aggression_type: AggressionType
    good_moves_to_deescalate: int = Field(ge=1, le=5)
    escalation_step: int = Field(ge=1, le=2)
    pressure_after: int = Field(ge=1, le=5)


class HiddenFact(BaseModel):
    """A fact the customer reveals only when the trainee asks about ``ask_about``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fact: Bilingual
    ask_about: Bilingual


class Customer(BaseModel):
    """The customer the actor plays."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Bilingual
    profile: Bilingual
    wants: Bilingual
    hidden_facts: tuple[HiddenFact, ...] = Field(min_length=1)

    def name_forms(self, lang: str) -> list[str]:
        """The forms of the customer's name in ``lang`` a line could be headed with as a speaker
        label, longest first: "meneer Van Leeuwen", "Van Leeuwen", "Leeuwen"."""
        words = self.name(lang).split()
        return list(dict.fromkeys(" ".join(words[i:]) for i in range(len(words))))


class Scenario(PromptModel):
    """One rehearsal scenario, ``prompts/scenarios/<id>.yaml`` (``id`` matches the knowledge
    base's scenario ids and the file name). Unknown keys are rejected; ``sha256`` is the hash
    of the file the loader read, not a field."""

    id: Literal["counter", "phone", "office", "intimidation"]
    title: Bilingual
    briefing: Bilingual
    setting: Bilingual
    employee_role: Bilingual
    customer: Customer
    opening_line: Bilingual
    difficulties: dict[DifficultyName, Difficulty]

    @field_validator("difficulties")
    @classmethod
    def _all_three(cls, v: dict) -> dict:
        if set(v) != {"easy", "medium", "hard"}:
            raise ValueError("needs exactly the difficulties easy, medium and hard")
        return v


def load_scenario(path: Path) -> Scenario:
    """One scenario file through the one loader (:func:`actor.prompt_files.read`, with its
    sha256). Raises :class:`~actor.prompt_files.PromptFileError` (a ``ValueError``) for an
    invalid file or an ``id`` other than the file name, ``FileNotFoundError``."""
    return prompt_files.read(path, f"scenarios/{Path(path).name}")


def load_scenarios(folder: Path | None = None) -> dict[str, Scenario]:
    """All scenarios in ``folder`` (default ``prompts/scenarios``), by id."""
    folder = folder or PROMPTS_DIR / "scenarios"
    return {s.id: s for s in (load_scenario(p) for p in sorted(folder.glob("*.yaml")))}
