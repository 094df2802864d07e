"""The move is stored once: in the assessment (``turns.assessment["move"]``). The ``move`` column
holds it only for a turn stored without an assessment; ``move_judgement`` (the move with its
reason, written by older versions) is dropped.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

turns = sa.table("turns", sa.column("id", sa.Integer()), sa.column("move", sa.String(32)),
                 sa.column("assessment", sa.JSON()))


def upgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.alter_column("move", existing_type=sa.String(32), nullable=True)
        batch.drop_column("move_judgement")
    bind = op.get_bind()  # decoded in Python: a turn without an assessment holds JSON null, not SQL NULL
    for row in bind.execute(sa.select(turns.c.id, turns.c.assessment)).all():
        if row.assessment is not None:
            bind.execute(turns.update().where(turns.c.id == row.id).values(move=None))


def downgrade() -> None:
    bind = op.get_bind()
    for row in bind.execute(sa.select(turns.c.id, turns.c.move, turns.c.assessment)).all():
        move = row.move or (row.assessment or {}).get("move") or "neutral"
        bind.execute(turns.update().where(turns.c.id == row.id).values(move=move))
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("move_judgement", sa.JSON(), nullable=True))
        batch.alter_column("move", existing_type=sa.String(32), nullable=False)
