"""org: server-side sessions, sign-in throttling, token expiry

- ``user_sessions``: one row per signed-in browser, keyed by the SHA-256 of the random id its cookie
  carries; checked on every request, so logout and "end all sessions" reach every server at once.
- ``login_throttle``: sign-in attempts per (account, address), account and address, claimed with one
  upsert before each password check (org/throttle.py).
- ``api_tokens.expires_at``: tokens made before this revision have none (they never expire; list them
  with ``cityloop tokens list`` and revoke the ones no longer needed).

Cookies of the old format (Starlette's signed session) are simply not recognised any more: everyone
signs in once again after the upgrade.

Revision ID: 0016_auth
Revises: 0015_casegaps
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityloop.core.db

revision = "0016_auth"
down_revision = "0015_casegaps"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=20), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("data", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"], unique=False)
    op.create_index("ix_user_sessions_expires_at", "user_sessions", ["expires_at"], unique=False)
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_index("ix_login_throttle_last_at", "login_throttle", ["last_at"], unique=False)
    op.add_column(
        "api_tokens", sa.Column("expires_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
    op.drop_index("ix_login_throttle_last_at", table_name="login_throttle")
    op.drop_table("login_throttle")
    op.drop_index("ix_user_sessions_expires_at", table_name="user_sessions")
    op.drop_index("ix_user_sessions_user_id", table_name="user_sessions")
    op.drop_table("user_sessions")
