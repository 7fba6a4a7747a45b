"""open311: api keys of reporting apps

Revision ID: 0007_open311
Revises: 0006_livability
Create Date: 2026-11-28 11:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityloop.core.db

revision = "0007_open311"
down_revision = "0006_livability"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "open311_keys",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_open311_keys_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_open311_keys_name")),
    )


def downgrade() -> None:
    op.drop_table("open311_keys")
