"""Trying the customer out: a scripted trainee against a scenario, and the actor's figures.

Used by ``python -m evals.actor`` and by the trainer workspace ("try it" and the A/B run of two
versions of a scenario or of the customer's prompt). :func:`play` runs the session as the app
does (move judgement drives the state; the full grading is skipped: it does not change the
customer); :func:`figures` summarises the customer's lines.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import yaml
from pydantic import TypeAdapter

from actor.persona.actor import PersonaPrompt
from actor.persona.guard import check_line, language_of
from actor.persona.scenario import Scenario
from actor.session import Session

SCRIPTS = Path(__file__).resolve().parents[1] / "evals" / "actor" / "scripts"


def scripts(scenario_id: str | None = None, lang: str | None = None) -> dict[str, Path]:
    """The scripted trainees (``<scenario>-<lang>-<skilled|unskilled>.yaml``) by name."""
    out = {}
    for path in sorted(SCRIPTS.glob("*.yaml")) if SCRIPTS.is_dir() else []:
        sc, la, _ = path.stem.split("-")
        if (scenario_id is None or sc == scenario_id) and (lang is None or la == lang):
            out[path.stem] = path
    return out


def load_script(path: Path) -> list[str]:
    """A script's replies. Raises ``pydantic.ValidationError`` when it is not a list of strings."""
    return TypeAdapter(list[str]).validate_python(yaml.safe_load(path.read_text(encoding="utf-8")))


def play(bench, scenario_id: str, lang: str, difficulty: str, replies: list[str], scenario: Scenario | None = None,
         persona_prompt: PersonaPrompt | None = None) -> Session:
    """The session after the scripted ``replies`` (stops early when the scenario ends).
    ``scenario`` / ``persona_prompt``: versions to try instead of the saved ones."""
    session = bench.new_session(scenario_id, difficulty, lang, scenario=scenario)
    if persona_prompt is not None:
        session.actor.prompt = persona_prompt
    for reply in replies:
        if session.ended:
            break
        session.turn(reply, grade=False)
    return session


def figures(session: Session) -> dict:
    """The customer's lines of ``session`` in numbers: ``lines``, ``first_draft_ok`` (accepted by
    the role guard on the first draft), ``shown_ok`` (shown lines the guard accepts),
    ``right_language``, ``words`` (per line), ``fallbacks``, ``final_level``, ``outcome``,
    ``first_token`` (seconds per turn)."""
    lines = [t.answer for t in session.turns if t.answer]
    return {
        "lines": len(lines),
        "first_draft_ok": sum(line.path == "model" for line in lines),
        "shown_ok": sum(not check_line(line.text, session.lang, [x.text for x in lines[:i]]) for i, line in enumerate(lines)),
        "right_language": sum(language_of(line.text) in (session.lang, None) for line in lines),
        "words": [len(line.text.split()) for line in lines],
        "fallbacks": sum(line.path == "fallback" for line in lines),
        "final_level": session.state.level,
        "outcome": session.state.outcome,
        "first_token": [t.seconds["first_token"] for t in session.turns if t.seconds.get("first_token")],
    }


def summary(results: list[dict]) -> dict:
    """Totals over several :func:`figures`: shares of lines in character (guard, first draft),
    in the right language and from the fallback, the median words per line."""
    n = sum(r["lines"] for r in results) or 1
    words = [w for r in results for w in r["words"]]
    return {
        "in_character_first_draft": sum(r["first_draft_ok"] for r in results) / n,
        "in_character_shown": sum(r["shown_ok"] for r in results) / n,
        "right_language": sum(r["right_language"] for r in results) / n,
        "median_words": statistics.median(words) if words else None,
        "fallback_rate": sum(r["fallbacks"] for r in results) / n,
    }
