"""The conversation's vocabulary, shared by persona, judgement, session and web alike.

Nothing here imports another part of the package, so the pure state machine
(:mod:`actor.persona.state`) loads without the judgement or the model stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"
"""The editable data files: rubric, scenarios, the customer's and the evaluator's prompts."""

LANGS = ("nl", "en")
Lang = Literal["nl", "en"]

Move = Literal["acknowledge", "boundary", "cave", "provoke", "end_conversation", "neutral"]
"""What a trainee reply did to the customer, as the judgement derives it from the verdicts."""

AGGRESSION_TYPES = ("frustration", "instrumental", "white_collar")

LEVEL_NAMES = {
    "nl": ["geïrriteerd", "kritiek op de organisatie", "weigert, daagt uit", "persoonlijke aanval", "dreiging"],
    "en": ["irritated", "criticises the organisation", "refuses, challenges", "personal attack", "threat"],
}
"""Escalation levels L0–L4 by language (index = level): the short names the trainee sees."""

LEVEL_DESCRIPTIONS = (
    "irritated about the situation",
    "criticises the organisation",
    "refuses, challenges rules or authority",
    "personal attack, insults",
    "intimidation or threat",
)
"""Escalation levels L0–L4 (index = level) described in English for the evaluator's prompts
(``{level_name}`` in ``prompts/evaluator/*.yaml``): what the customer does at that level."""


class Bilingual(BaseModel):
    """A text in Dutch and English; call it with a language to get that text."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    nl: str
    en: str

    def __call__(self, lang: str) -> str:
        return self.nl if lang == "nl" else self.en
