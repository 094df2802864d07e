"""Learning from reviewers: a reviewer's override is a label.

:func:`override_rows` turns every stored override (the newest per turn and criterion) into a
training row for that one criterion; :func:`refit` fits heads on the bank plus those rows and
measures both versions on the same scenario-held-out splits of the bank (the overrides only
ever join the training side), so the printed before/after figures are comparable.
:func:`heads_path` is where the app looks for refitted heads before the shipped ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from actor.judgement.bank import CRITERIA, GOLD_SCENARIOS
from actor.judgement.heads import DEFAULT_HEADS


@dataclass(frozen=True)
class TrainRow:
    """A training row with the fields the fitting reads; ``labels`` may leave criteria ``None``
    (an override labels one criterion); ``tone`` ``None`` keeps it out of the tone head."""

    lang: str
    scenario: str
    customer: str
    trainee: str
    escalation_level: int
    aggression_type: str
    tactic: str | None
    labels: dict[str, int | None] = field(default_factory=dict)
    tone: int | None = None
    id: str = ""


def heads_path(settings) -> Path:
    """The heads the app loads: ``$ACTOR_HOME/judgement/heads.json`` when a refit saved one,
    else the shipped ``actor/judgement/heads.json``."""
    own = Path(settings.home) / "judgement" / "heads.json"
    return own if own.is_file() else DEFAULT_HEADS


def override_rows(db) -> list[TrainRow]:
    """One :class:`TrainRow` per (turn, criterion) a reviewer overrode to ``pass`` or ``fail``
    (the newest override counts; ``n/a`` overrides are skipped)."""
    from sqlalchemy import select

    from actor.db.models import OverrideRow, SessionRow, TurnRow

    newest: dict[tuple[int, str], tuple] = {}
    with db._sessions() as s:
        q = (select(OverrideRow, TurnRow, SessionRow).join(TurnRow, OverrideRow.turn_id == TurnRow.id)
             .join(SessionRow, TurnRow.session_id == SessionRow.id).order_by(OverrideRow.created_at, OverrideRow.id))
        for o, t, sess in s.execute(q):
            newest[(t.id, o.criterion)] = (o, t, sess)
    rows = []
    for (tid, cid), (o, t, sess) in sorted(newest.items()):
        if o.verdict not in ("pass", "fail") or cid not in CRITERIA:
            continue
        before = t.state_before or {}
        labels = {c: None for c in CRITERIA}
        labels[cid] = int(o.verdict == "pass")
        rows.append(TrainRow(lang=sess.lang, scenario=GOLD_SCENARIOS.get(sess.scenario, sess.scenario), customer=t.customer_line,
                             trainee=t.reply, escalation_level=int(before.get("level", 0)),
                             aggression_type=before.get("aggression_type", "frustration"), tactic=before.get("tactic"),
                             labels=labels, id=f"override-{o.id}"))
    return rows


def rows_sha256(rows: list[TrainRow]) -> str:
    """sha256 of the rows' content (``""`` for none): recorded in refitted heads."""
    if not rows:
        return ""
    return hashlib.sha256(json.dumps([vars(r) for r in rows], sort_keys=True, ensure_ascii=False).encode()).hexdigest()
