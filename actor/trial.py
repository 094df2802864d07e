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
from actor.persona.guard import echoes, check_line, language_of, repeats
from actor.persona.scenario import Scenario
from actor.persona.scene import content_words
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
    """The customer's lines of ``session`` in numbers (counts unless said otherwise):

    ``lines``; ``first_draft_ok`` (the first draft was shown); ``shown_ok`` (shown lines the role
    guard accepts); ``right_language``; ``words`` (per line); ``fallbacks``; ``replaced`` (shown,
    then taken back); ``foreign`` (name another scenario's words, names or amounts); ``leaks``
    (instruction text, list markup, several lines, speaker labels, or a guard leak);
    ``repeats`` (like ANY earlier customer line, the opening included); ``echoes`` (copy ANY
    trainee line so far); ``volunteered`` (lines naming a hidden fact not yet uncovered, see
    :func:`fact_words`); ``final_level``; ``outcome``; ``resolved_turn`` (the turn that resolved
    the scenario, ``None`` if none); ``addressed_at_resolution`` (the concern was addressed then:
    a hidden fact uncovered and a within-policy next step); ``facts`` (hidden facts uncovered);
    ``first_token`` (seconds per turn until the first text is shown); ``rest_of_line`` (seconds
    from the first text to the complete line, per generated line).
    """
    lines = [t.answer for t in session.turns if t.answer]
    scene = session.actor.scene
    hidden = fact_words(session.scenario, session.lang)
    said, trainee, heard = [session.opening.text], [], set()  # heard: the trainee's fact-length words so far
    foreign = leaks = repeated = echoed = volunteered = 0
    for t in session.turns:
        trainee.append(t.reply)
        heard |= content_words(t.reply, session.lang, FACT_WORD_LETTERS)
        if t.answer:
            text = t.answer.text
            mine = content_words(text, session.lang, FACT_WORD_LETTERS) - heard
            volunteered += any(mine & fw for i, fw in enumerate(hidden) if i not in t.state_after.facts)
            foreign += bool(scene.foreign(text))
            leaks += bool(scene.instruction_leak(text) or scene.markup(text)
                          or "leaks instructions or breaks the fiction" in check_line(text, session.lang))
            repeated += repeats(text, said)
            echoed += any(echoes(text, r) for r in trainee)
            said.append(text)
    resolved = next((t for t in session.turns if t.state_after.outcome == "resolved"), None)
    return {
        "lines": len(lines),
        "first_draft_ok": sum(line.path == "model" for line in lines),
        "shown_ok": sum(not check_line(line.text, session.lang, [x.text for x in lines[:i]]) for i, line in enumerate(lines)),
        "right_language": sum(language_of(line.text) in (session.lang, None) for line in lines),
        "words": [len(line.text.split()) for line in lines],
        "fallbacks": sum(line.path == "fallback" for line in lines),
        "replaced": sum(bool(line.replaced_after_display) for line in lines),
        "foreign": foreign,
        "leaks": leaks,
        "repeats": repeated,
        "echoes": echoed,
        "volunteered": volunteered,
        "final_level": session.state.level,
        "outcome": session.state.outcome,
        "resolved_turn": resolved.number if resolved else None,
        "addressed_at_resolution": resolved.state_after.addressed if resolved else None,
        "facts": len(session.state.facts),
        "first_token": [t.seconds["first_token"] for t in session.turns if t.seconds.get("first_token")],
        "rest_of_line": [line.seconds["line"] - line.seconds["shown"] for line in lines
                         if line.path != "fallback" and "line" in (line.seconds or {})],
    }


FACT_WORD_LETTERS = 8  # shorter words are too often everyday words to mark a hidden fact


def fact_words(scenario: Scenario, lang: str) -> list[set[str]]:
    """Per hidden fact of ``scenario``, its own content words in ``lang`` (normalised, eight letters
    or more, no stopwords: shorter words are too often everyday words): those not in the
    scenario's open texts (title, briefing, setting, the employee's role, the customer's name,
    profile and wants, the opening line). A customer line using one of them before the fact is
    uncovered, when the trainee has not said the word either, volunteers the fact (a rough count:
    a paraphrase in other words is missed)."""
    c = scenario.customer
    public = content_words(" ".join([scenario.title(lang), scenario.briefing(lang), scenario.setting(lang),
                                     scenario.employee_role(lang), c.name(lang), c.profile(lang), c.wants(lang),
                                     scenario.opening_line(lang)]), lang, FACT_WORD_LETTERS)
    return [content_words(h.fact(lang), lang, FACT_WORD_LETTERS) - public for h in c.hidden_facts]


def summary(results: list[dict]) -> dict:
    """Totals over several :func:`figures`: shares of lines in character (guard, first draft),
    in the right language and from the fallback, the median words per line, and the counts of
    lines from another scenario, leaks, repeats, echoes and lines replaced after display."""
    n = sum(r["lines"] for r in results) or 1
    words = [w for r in results for w in r["words"]]
    return {
        "lines": sum(r["lines"] for r in results),
        "in_character_first_draft": sum(r["first_draft_ok"] for r in results) / n,
        "in_character_shown": sum(r["shown_ok"] for r in results) / n,
        "right_language": sum(r["right_language"] for r in results) / n,
        "median_words": statistics.median(words) if words else None,
        "fallback_rate": sum(r["fallbacks"] for r in results) / n,
        **{k: sum(r.get(k, 0) for r in results) for k in ("foreign", "leaks", "repeats", "echoes", "replaced", "volunteered")},
    }
