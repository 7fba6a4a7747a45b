"""programme: several indicators per task; further indicator values on progress reports

Revision ID: 0013_bridges
Revises: 0007_open311
Create Date: 2026-11-28 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013_bridges"
down_revision = "0009_caseind"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "programme_task_indicators",
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("target_value", sa.Float(), nullable=False),
        sa.Column("current_value", sa.Float(), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["programme_tasks.id"],
            name=op.f("fk_programme_task_indicators_task_id_programme_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_task_indicators")),
        sa.UniqueConstraint("task_id", "seq", name=op.f("uq_programme_task_indicators_task_id")),
    )
    with op.batch_alter_table("programme_reports", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "indicator_values", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("programme_reports", schema=None) as batch_op:
        batch_op.drop_column("indicator_values")
    op.drop_table("programme_task_indicators")
