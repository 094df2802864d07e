"""Actor evaluation with scripted trainees (``python -m evals.actor``).

Plays every script in ``evals/actor/scripts/<scenario>-<lang>-<skilled|unskilled>.yaml`` (a
YAML list of trainee replies) against the actor on the configured models; the move judgement
drives the customer's state as in the app (the full per-criterion grading is not needed here
and is skipped). Prints:

- in character: share of the customer's lines the role guard accepts on the first draft, share
  of the lines shown that pass the role guard, and share of the lines shown that the evaluator
  model attributes to the customer (``prompts/evaluator/in_character.yaml``), with that judge's
  own accuracy on labelled lines (``judge_lines.yaml``) so its figure can be weighed;
- language: share of shown lines in the session's language (function-word detector);
- median words per shown line;
- final escalation level, skilled versus unskilled, per scenario and language;
- fallback rate: share of lines that came from the playbook because every draft was rejected.

``--only counter-nl`` restricts to matching scripts; ``--difficulty`` sets the difficulty;
``--out`` writes all transcripts as JSON.
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
from actor.evaluator.grader import load_prompt
from actor.llm import chat_model, json_mode
from actor.session import Workbench
from actor.trial import figures, load_script, play, summary

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="substring of the script names to run")
    parser.add_argument("--difficulty", default="medium", choices=["easy", "medium", "hard"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    settings = Settings()
    judge_prompt = load_prompt("in_character")
    judge = json_mode(chat_model("evaluator", settings), JUDGE_SCHEMA, "in_character") | JsonOutputParser()
    bench = Workbench.from_settings(settings)
    results, transcripts = [], {}
    for script in sorted((HERE / "scripts").glob("*.yaml")):
        if args.only not in script.stem:
            continue
        scenario_id, lang, skill = script.stem.split("-")
        session = play(bench, scenario_id, lang, args.difficulty, load_script(script))
        lines = [t.answer for t in session.turns if t.answer]
        judged = [speaker(judge, judge_prompt, session.scenario.setting("en"), line.text) == "customer" for line in lines]
        results.append({"script": script.stem, "scenario": scenario_id, "lang": lang, "skill": skill, **figures(session),
                        "judged_in_character": sum(judged)})
        transcripts[script.stem] = session.to_dict()
        r = results[-1]
        print(f"{script.stem:28s} lines {r['lines']}  first-draft ok {r['first_draft_ok']}  judged in character "
              f"{r['judged_in_character']}  fallbacks {r['fallbacks']}  final L{r['final_level']} ({r['outcome']})", flush=True)
    if not results:
        print("no scripts matched")
        return
    n = sum(r["lines"] for r in results) or 1
    total = summary(results)
    print(f"in character (role guard, first draft): {total['in_character_first_draft']:.1%}")
    print(f"in character (role guard, shown lines): {total['in_character_shown']:.1%}")
    first = sorted(x for r in results for x in r["first_token"])
    if first:
        print(f"first customer token after the reply: p50 {statistics.median(first):.2f} s, max {first[-1]:.2f} s")
    calibration = judge_accuracy(judge, judge_prompt)
    print(f"in character (evaluator model, shown lines): {sum(r['judged_in_character'] for r in results) / n:.1%} "
          f"(the judge on {calibration['n']} labelled lines: customer lines recognised {calibration['customer_recognised']:.0%}, "
          f"other speakers recognised {calibration['other_recognised']:.0%})")
    print(f"right language: {total['right_language']:.1%}")
    print(f"median words per line: {total['median_words']}")
    print(f"fallback rate: {total['fallback_rate']:.1%}")
    by = {(r["scenario"], r["lang"], r["skill"]): r["final_level"] for r in results}
    for (scenario, lang, skill), level in sorted(by.items()):
        if skill == "skilled" and (scenario, lang, "unskilled") in by:
            other = by[(scenario, lang, "unskilled")]
            print(f"final level {scenario}-{lang}: skilled L{level} vs unskilled L{other} "
                  f"({'ok' if level < other else 'NOT lower'})")
    if args.out:
        args.out.write_text(json.dumps(transcripts, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
