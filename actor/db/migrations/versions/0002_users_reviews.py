"""Users with roles, reviewer overrides and comments on turns, saved versions of prompt files.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_users")),
    )
    for table, columns in (
        ("overrides", [sa.Column("criterion", sa.String(64), nullable=False), sa.Column("verdict", sa.String(8), nullable=False),
                       sa.Column("comment", sa.Text(), nullable=False), sa.Column("reviewer", sa.String(64), nullable=False)]),
        ("comments", [sa.Column("author", sa.String(64), nullable=False), sa.Column("text", sa.Text(), nullable=False)]),
    ):
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("turn_id", sa.Integer(), nullable=False),
            *columns,
            sa.Column("created_at", UTC, nullable=False),
            sa.ForeignKeyConstraint(["turn_id"], ["turns.id"], name=op.f(f"fk_{table}_turn_id_turns"), ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        )
        op.create_index(op.f(f"ix_{table}_turn_id"), table, ["turn_id"])
    op.create_table(
        "prompt_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("path", sa.String(256), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_versions")),
    )
    op.create_index(op.f("ix_prompt_versions_path"), "prompt_versions", ["path"])


def downgrade() -> None:
    op.drop_index(op.f("ix_prompt_versions_path"), table_name="prompt_versions")
    op.drop_table("prompt_versions")
    for table in ("comments", "overrides"):
        op.drop_index(op.f(f"ix_{table}_turn_id"), table_name=table)
        op.drop_table(table)
    op.drop_table("users")
