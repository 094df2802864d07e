"""Actor evaluation with scripted trainees (``python -m evals.actor``).

Plays every script in ``evals/actor/scripts/<scenario>-<lang>-<skilled|unskilled|friendly>.yaml``
(a YAML list of trainee replies) against the actor on the configured models; the judgement
drives the customer's state as in the app (the feedback wording is skipped: it does not change
the customer). ``friendly`` scripts are warm but never look into or solve the problem. Prints,
per scenario and language and in total, with the issue's targets:

- lines that name another scenario's facts (scene check), leaked instruction text or markup,
  repeats of ANY earlier customer line, echoes of ANY earlier trainee line, lines shown and then
  replaced (targets: 0 each); lines that volunteer a hidden fact before it is uncovered (a rough
  count by the fact's own long words, :func:`actor.trial.fact_words`; no target);
- lines accepted on the first draft (target ≥ 90 %) and fallbacks (target ≤ 3 %);
- for skilled scripts the turn at which the scenario resolved and whether the concern had been
  addressed by then (target: every resolution addressed); friendly scripts must not resolve;
  skilled final level below unskilled in every pair;
- in character: share of shown lines the evaluator model attributes to the customer
  (``prompts/evaluator/in_character.yaml``), with that judge's own accuracy on labelled lines
  (``judge_lines.yaml``; skipped with ``--no-judge``); right language; median words per line;
  time to the customer's first text and to the rest of the line (every piece is checked before it is shown).

``--only counter-nl`` restricts to matching scripts; ``--difficulty`` sets the difficulty;
``--moves`` picks the move judgement (``auto``: the workbench's judgement when its fitted heads
are present, else the nearest-example move judge of :mod:`evals.baseline.move`); ``--out``
writes all transcripts as JSON (with the state after each turn); ``--markdown PATH`` writes
them for reading: per turn the trainee's reply, the move, the customer's line (and how it was
made) and the state after the turn (level, concern, outcome).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import yaml
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.output_parsers import JsonOutputParser

from actor.config import Settings
from actor.evaluator.request import load_prompt
from actor.llm import chat_model, json_mode
from actor.session import Workbench
from actor.trial import figures, load_script, play, summary
from evals.baseline.move import LegacyMoves

HERE = Path(__file__).resolve().parent
JUDGE_SCHEMA = {
    "title": "Speaker", "type": "object",
    "properties": {"speaker": {"type": "string", "enum": ["customer", "employee", "assistant"]}},
    "required": ["speaker"], "additionalProperties": False,
}


def speaker(judge, prompt, setting: str, line: str) -> str | None:
    """Who the evaluator model thinks says ``line`` (``None`` when it gave no valid answer)."""
    try:
        return judge.invoke([SystemMessage(prompt.system), HumanMessage(prompt.user.format(setting=setting, line=line))])["speaker"]
    except Exception:
        return None


def judge_accuracy(judge, prompt) -> dict:
    """The in-character judge on labelled lines (``judge_lines.yaml``): customer lines recognised
    as the customer's, and other lines recognised as not the customer's."""
    rows = yaml.safe_load((HERE / "judge_lines.yaml").read_text(encoding="utf-8"))
    said = [(r["speaker"], speaker(judge, prompt, "a service desk", r["line"])) for r in rows]
    customer = [got == "customer" for want, got in said if want == "customer"]
    other = [got not in ("customer", None) for want, got in said if want != "customer"]
    return {"customer_recognised": sum(customer) / len(customer), "other_recognised": sum(other) / len(other), "n": len(rows)}


def group_line(name: str, rows: list[dict]) -> str:
    """One printed row of the per-group table."""
    t = summary(rows)
    n = t["lines"] or 1
    return (f"{name:18s} {t['lines']:5d} {t['foreign']:8d} {t['leaks']:6d} {t['repeats']:8d} {t['echoes']:7d} {t['replaced']:9d} "
            f"{t['in_character_first_draft']:11.0%} {sum(r['fallbacks'] for r in rows) / n:10.1%} {t['volunteered']:11d}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="substring of the script names to run")
    parser.add_argument("--difficulty", default="medium", choices=["easy", "medium", "hard"])
    parser.add_argument("--moves", default="auto", choices=["auto", "judgement", "legacy"])
    parser.add_argument("--no-judge", action="store_true", help="skip the in-character judge (the evaluator model)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--markdown", type=Path, help="write the transcripts as Markdown, with the state after each turn")
    args = parser.parse_args(argv)

    settings = Settings()
    bench = Workbench.from_settings(settings)
    if args.moves == "legacy" or (args.moves == "auto" and bench.problems):
        from actor.embeddings import E5Embeddings

        bench.judge = LegacyMoves(E5Embeddings())
        print("moves: nearest-example move judge (evals.baseline.move)" + (f" — {bench.problems[0]}" if bench.problems else ""))
    else:
        print("moves: the judgement module (fitted heads)")
    judge_prompt = load_prompt("in_character")
    judge = None if args.no_judge else json_mode(chat_model("evaluator", settings), JUDGE_SCHEMA, "in_character") | JsonOutputParser()
    results, transcripts = [], {}
    for script in sorted((HERE / "scripts").glob("*.yaml")):
        if args.only not in script.stem:
            continue
        scenario_id, lang, skill = script.stem.split("-")
        session = play(bench, scenario_id, lang, args.difficulty, load_script(script))
        lines = [t.answer for t in session.turns if t.answer]
        judged = [speaker(judge, judge_prompt, session.scenario.setting("en"), line.text) == "customer"
                  for line in lines] if judge else []
        results.append({"script": script.stem, "scenario": scenario_id, "lang": lang, "skill": skill, **figures(session),
                        "judged_in_character": sum(judged)})
        transcripts[script.stem] = session.to_dict()
        r = results[-1]
        print(f"{script.stem:28s} lines {r['lines']}  first-draft ok {r['first_draft_ok']}  fallbacks {r['fallbacks']}  "
              f"facts {r['facts']}  final L{r['final_level']} ({r['outcome']}"
              + (f" at turn {r['resolved_turn']}, concern {'addressed' if r['addressed_at_resolution'] else 'NOT addressed'}"
                 if r["resolved_turn"] else "") + ")", flush=True)
    if not results:
        print("no scripts matched")
        return
    total = summary(results)
    n = total["lines"] or 1
    print(f"\n{'group':18s} {'lines':>5s} {'foreign':>8s} {'leaks':>6s} {'repeats':>8s} {'echoes':>7s} {'replaced':>9s} "
          f"{'first draft':>11s} {'fallbacks':>10s} {'volunteered':>11s}")
    groups = sorted({(r["scenario"], r["lang"]) for r in results})
    for scenario, lang in groups:
        print(group_line(f"{scenario}-{lang}", [r for r in results if (r["scenario"], r["lang"]) == (scenario, lang)]))
    print(group_line("total", results))
    ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
    resolved = [r for r in results if r["resolved_turn"]]
    friendly = [r for r in results if r["skill"] == "friendly"]
    print(f"\ntargets: other scenario 0 ({ok(total['foreign'] == 0)}), leaks 0 ({ok(total['leaks'] == 0)}), "
          f"repeats/echoes 0 ({ok(total['repeats'] + total['echoes'] == 0)}), replaced after display 0 ({ok(total['replaced'] == 0)}), "
          f"first draft {total['in_character_first_draft']:.1%} ≥ 90 % ({ok(total['in_character_first_draft'] >= 0.9)}), "
          f"fallbacks {total['fallback_rate']:.1%} ≤ 3 % ({ok(total['fallback_rate'] <= 0.03)})")
    print(f"resolutions: {len(resolved)}, with the concern addressed {sum(bool(r['addressed_at_resolution']) for r in resolved)} "
          f"({ok(all(r['addressed_at_resolution'] for r in resolved))}); friendly scripts resolved "
          f"{sum(bool(r['resolved_turn']) for r in friendly)} of {len(friendly)} ({ok(not any(r['resolved_turn'] for r in friendly))})")
    for r in (r for r in results if r["skill"] == "skilled"):
        print(f"  {r['script']:28s} resolved at turn {r['resolved_turn'] or '-'}; concern addressed then: "
              f"{'-' if r['resolved_turn'] is None else ('yes' if r['addressed_at_resolution'] else 'NO')}; facts uncovered {r['facts']}")
    by = {(r["scenario"], r["lang"], r["skill"]): r["final_level"] for r in results}
    for (scenario, lang, skill), level in sorted(by.items()):
        if skill == "skilled" and (scenario, lang, "unskilled") in by:
            other = by[(scenario, lang, "unskilled")]
            print(f"final level {scenario}-{lang}: skilled L{level} vs unskilled L{other} ({'ok' if level < other else 'NOT lower'})")
    print(f"in character (role guard, shown lines): {total['in_character_shown']:.1%}")
    if judge:
        calibration = judge_accuracy(judge, judge_prompt)
        print(f"in character (evaluator model, shown lines): {sum(r['judged_in_character'] for r in results) / n:.1%} "
              f"(the judge on {calibration['n']} labelled lines: customer lines recognised {calibration['customer_recognised']:.0%}, "
              f"other speakers recognised {calibration['other_recognised']:.0%})")
    print(f"right language: {total['right_language']:.1%}; median words per line: {total['median_words']}")
    first = sorted(x for r in results for x in r["first_token"])
    if first:
        print(f"customer's first text shown after the reply (checked; its first word on a model that continues a started "
              f"answer, else its first sentence): p50 {statistics.median(first):.2f} s, "
              f"max {first[-1]:.2f} s (retrieval, verdicts and regenerated drafts included; see benchmarks/turn_latency.py)")
    rest = sorted(x for r in results for x in r["rest_of_line"])
    if rest:
        print(f"rest of the line after the first text (checked before it is added): p50 {statistics.median(rest):.2f} s, "
              f"max {rest[-1]:.2f} s")
    if args.out:
        args.out.write_text(json.dumps(transcripts, ensure_ascii=False, indent=2), encoding="utf-8")
    if args.markdown:
        args.markdown.write_text("\n\n".join(transcript_markdown(name, t) for name, t in transcripts.items()), encoding="utf-8")


def state_words(state: dict) -> str:
    """The state after a turn in one line: level, concern, boundary and outcome."""
    parts = [f"L{state['level']}", f"demand {state['demand']}", f"facts {list(state['facts']) or '-'}",
             f"offer {state['offer']}", f"next step {'yes' if state['next_step'] else 'no'}",
             f"heard {'yes' if state['heard'] else 'no'}", f"boundary {state['boundary']} (tested {state['boundary_tests']}×)"]
    if state.get("outcome"):
        parts.append(f"**{state['outcome']}**")
    if state.get("changes"):
        parts.append("changed: " + "; ".join(state["changes"]))
    return " · ".join(parts)


def transcript_markdown(name: str, t: dict) -> str:
    """One transcript of :meth:`~actor.session.Session.to_dict` as Markdown."""
    out = [f"### {name} ({t['difficulty']}, outcome {t.get('outcome') or '-'}, final L{t['final_level']})",
           f"**Klant / customer:** {t['opening']['text'] if isinstance(t['opening'], dict) else t['opening']}"]
    for turn in t["turns"]:
        answer = turn.get("answer") or {}
        out.append(f"{turn['number']}. **Trainee** ({turn['move']}): {turn['reply']}  \n"
                   f"   **Customer** ({answer.get('path', '?')}, {answer.get('tactic', '?')}): {answer.get('text', '')}  \n"
                   f"   _state: {state_words(turn['state_after'])}_")
    return "\n\n".join(out)


if __name__ == "__main__":
    main()
