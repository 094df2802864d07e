"""The labelled bank: trainee replies with rubric labels, a move and a tone.

Rows live in ``evals/judgement/bank/<scenario>.jsonl`` (the resolved labels) and
``evals/judgement/bank/passes/`` (the two independent labelling passes); the labelling rules are in
``evals/judgement/bank/LABELLING.md``. :class:`BankRow` validates a row (unknown keys rejected,
n/a exactly where the applicability rule puts it, the move derived from the labels).
``gold/dev.jsonl`` rows (Dutch scenario and type names) are read with :func:`from_gold`.

``python -m actor.judgement.bank FILE…`` validates files and prints counts; exit status 1 on the
first invalid row (file, line, field and reason printed).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from actor.domain import Move
from actor.evaluator.assessment import classify_move
from actor.evaluator.request import GradeRequest

CRITERIA: tuple[str, ...] = (
    "stays_calm", "acknowledges_emotion", "listens_and_explores", "sets_boundary",
    "takes_control", "no_false_promises", "escalates_safely",
)
BOUNDARY_TACTICS = frozenset({"belittle", "name_drop", "rules_for_others", "false_claim", "insult", "intimidate", "threaten_review"})
Scenario = Literal["counter", "phone", "office", "intimidation"]
AggressionType = Literal["frustration", "instrumental", "white_collar"]
Tactic = Literal["vent", "repeat_demand", "demand_manager", "threaten_review", "insult", "belittle",
                 "false_claim", "name_drop", "rules_for_others", "intimidate"]
Trap = Literal["over_explaining", "short_and_hard", "caving", "over_apologising", "calm_down",
               "rules_without_context", "ending_early", "arguing", "sarcasm", "false_promise"]
BANK_DIR = Path(__file__).resolve().parents[2] / "evals" / "judgement" / "bank"


def applies(criterion: str, level: int, aggression_type: str | None, tactic: str | None) -> bool:
    """Whether ``criterion`` applies to a reply to a line at ``level`` (0–4); the rule of
    ``prompts/rubric.yaml`` (kept in step with :func:`actor.evaluator.rubric.applicable` by a test)."""
    if criterion in ("acknowledges_emotion", "listens_and_explores"):
        return level <= 3
    if criterion == "escalates_safely":
        return level == 4
    if criterion == "sets_boundary":
        return level >= 3 or aggression_type == "white_collar" or tactic in BOUNDARY_TACTICS
    return True


def derive_move(labels: dict[str, int | None]) -> str:
    """The move the labels imply (``LABELLING.md``, "Move"): the one move rule,
    :func:`~actor.evaluator.assessment.classify_move`, on labels written as numbers.
    ``labels``: criterion id → 1 (pass) / 0 (fail) / None (n/a)."""
    return classify_move({cid: None if v is None else "pass" if v else "fail" for cid, v in labels.items()})


class BankRow(BaseModel):
    """One labelled trainee reply (see ``LABELLING.md`` for every field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    lang: Literal["nl", "en"]
    scenario: Scenario
    aggression_type: AggressionType
    escalation_level: int
    tactic: Tactic | None = None
    customer: str
    trainee: str
    labels: dict[str, Literal[0, 1] | None]
    move: Move
    tone: int
    quality: Literal["strong", "mixed", "weak"] | None = None
    trap: Trap | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "BankRow":
        if not 0 <= self.escalation_level <= 4:
            raise ValueError(f"escalation_level must be 0-4, got {self.escalation_level}")
        if not 1 <= self.tone <= 5:
            raise ValueError(f"tone must be 1-5, got {self.tone}")
        if set(self.labels) != set(CRITERIA):
            raise ValueError(f"labels must have exactly the seven criteria; missing {sorted(set(CRITERIA) - set(self.labels))}, unknown {sorted(set(self.labels) - set(CRITERIA))}")
        for cid in CRITERIA:
            should = applies(cid, self.escalation_level, self.aggression_type, self.tactic)
            if should and self.labels[cid] is None:
                raise ValueError(f"{cid} applies at L{self.escalation_level}/{self.aggression_type}/{self.tactic} but is null")
            if not should and self.labels[cid] is not None:
                raise ValueError(f"{cid} does not apply at L{self.escalation_level}/{self.aggression_type}/{self.tactic} but is {self.labels[cid]}")
        if derive_move(self.labels) != self.move:
            raise ValueError(f"move {self.move!r} but the labels imply {derive_move(self.labels)!r}")
        if not self.trainee.strip() or not self.customer.strip():
            raise ValueError("customer and trainee must not be empty")
        return self


GOLD_TYPES = {"frustratie": "frustration", "frustration": "frustration", "instrumenteel": "instrumental",
              "instrumental": "instrumental", "witteboorden": "white_collar", "white-collar": "white_collar"}
GOLD_SCENARIOS = {"balie-pakket": "counter", "counter-refund": "counter", "telefoon-factuur": "phone",
                  "phone-contract": "phone", "kantoor-witteboorden": "office", "office-whitecollar": "office"}


def from_gold(raw: dict) -> BankRow:
    """A ``gold/dev.jsonl`` row as a :class:`BankRow` (scenario and type names mapped; the move
    derived from the labels; tone = the gold ``overall``; no tactic, as the gold set has none).
    Raises ``ValidationError`` for rows outside the format."""
    labels = {c: raw["labels"].get(c) for c in CRITERIA}
    return BankRow(id=raw["id"], lang=raw["lang"], scenario=GOLD_SCENARIOS.get(raw["scenario"], raw["scenario"]),
                   aggression_type=GOLD_TYPES.get(raw["aggression_type"], raw["aggression_type"]),
                   escalation_level=raw["escalation_level"], customer=raw["customer"], trainee=raw["trainee"],
                   labels=labels, move=derive_move(labels), tone=int(raw.get("overall", 3)))


def read_rows(path: Path) -> list[BankRow]:
    """Rows of a JSONL file in bank format, or in gold format (detected per row by its
    ``overall`` key). Raises ``ValueError`` naming the file and line of the first bad row."""
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            rows.append(from_gold(raw) if "overall" in raw else BankRow.model_validate(raw))
        except (json.JSONDecodeError, ValidationError, KeyError) as exc:
            raise ValueError(f"{path}:{n}: {exc}") from exc
    return rows


def load_bank(bank_dir: Path = BANK_DIR) -> tuple[list[BankRow], str]:
    """All resolved rows of ``bank_dir/*.jsonl`` and the sha256 of their bytes (files in name
    order): the hash the fitted heads are checked against. Raises ``FileNotFoundError`` when the
    folder holds no bank file, ``ValueError`` for an invalid row."""
    files = sorted(Path(bank_dir).glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no bank files in {bank_dir}")
    digest = hashlib.sha256()
    rows: list[BankRow] = []
    for f in files:
        digest.update(f.read_bytes())
        rows.extend(read_rows(f))
    ids = Counter(r.id for r in rows)
    dup = [i for i, c in ids.items() if c > 1]
    if dup:
        raise ValueError(f"duplicate ids in the bank: {dup[:5]}")
    return rows, digest.hexdigest()


def _main(paths: list[str]) -> int:
    for p in paths:
        try:
            rows = read_rows(Path(p))
        except ValueError as exc:
            print(exc)
            return 1
        print(f"{p}: {len(rows)} rows valid; by lang: {dict(Counter(r.lang for r in rows))}; "
              f"levels: {dict(sorted(Counter(r.escalation_level for r in rows).items()))}; "
              f"types: {dict(Counter(r.aggression_type for r in rows))}; quality: {dict(Counter(r.quality for r in rows))}; "
              f"moves: {dict(Counter(r.move for r in rows))}")
        dups = [i for i, n in Counter(r.id for r in rows).items() if n > 1]
        if dups:
            print(f"duplicate ids: {dups[:10]}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))


def row_request(row) -> GradeRequest:
    """The :class:`~actor.evaluator.request.GradeRequest` the app would make for a labelled
    reply (a :class:`BankRow`, a gold row read as one, or a
    :class:`~actor.judgement.learn.TrainRow`): its customer line, reply, level, aggression type
    and tactic, and the scenario's policy document as the text promises are checked against."""
    return GradeRequest(lang=row.lang, customer_line=row.customer, reply=row.trainee, level=row.escalation_level,
                        aggression_type=row.aggression_type, tactic=row.tactic, scenario=row.scenario,
                        scenario_id=row.scenario, policy_text=policy_text(row.scenario, row.lang))


def policy_text(scenario: str, lang: str, knowledge_dir: Path | None = None) -> str:
    """The scenario's policy document in ``lang`` (``knowledge/<lang>/policy/policy-<scenario>.md``)
    as plain text, or ``""`` when there is none (the rule checks then allow no promised time)."""
    root = knowledge_dir or Path(__file__).resolve().parents[2] / "knowledge"
    path = root / lang / "policy" / f"policy-{scenario}.md"
    return path.read_text(encoding="utf-8") if path.is_file() else ""
