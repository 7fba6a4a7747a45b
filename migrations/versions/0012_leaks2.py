"""twin: the online leak detector's checkpoints and its detections

Revision ID: 0012_leaks2
Revises: 0007_open311
Create Date: 2026-11-28 13:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityloop.core.db

revision = "0012_leaks2"
down_revision = "0014_rollup"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "twin_leak_states",
        sa.Column("network_id", _ID, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("layout_key", sa.String(length=64), nullable=False),
        sa.Column("cursor", cityloop.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("state", sa.LargeBinary(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("updated_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["twin_networks.id"],
            name=op.f("fk_twin_leak_states_network_id_twin_networks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twin_leak_states")),
    )
    with op.batch_alter_table("twin_leak_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_twin_leak_states_network_id"), ["network_id"], unique=True)

    op.create_table(
        "twin_leak_detections",
        sa.Column("network_id", _ID, nullable=False),
        sa.Column("warning_id", _ID, nullable=False),
        sa.Column("leak_key", sa.String(length=80), nullable=False),
        sa.Column("pipe", sa.String(length=120), nullable=False),
        sa.Column("detected_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("onset", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("flow", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("relocated", sa.Boolean(), nullable=False),
        sa.Column("candidates", _JSON, nullable=False),
        sa.Column("evidence", _JSON, nullable=False),
        sa.Column("created_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["twin_networks.id"],
            name=op.f("fk_twin_leak_detections_network_id_twin_networks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["warning_id"],
            ["twin_warnings.id"],
            name=op.f("fk_twin_leak_detections_warning_id_twin_warnings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twin_leak_detections")),
        sa.UniqueConstraint("network_id", "leak_key", name=op.f("uq_twin_leak_detections_network_id")),
    )
    with op.batch_alter_table("twin_leak_detections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_twin_leak_detections_network_id"), ["network_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_twin_leak_detections_warning_id"), ["warning_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("twin_leak_detections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_twin_leak_detections_warning_id"))
        batch_op.drop_index(batch_op.f("ix_twin_leak_detections_network_id"))
    op.drop_table("twin_leak_detections")
    with op.batch_alter_table("twin_leak_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_twin_leak_states_network_id"))
    op.drop_table("twin_leak_states")
