"""cases: one covering index for the indicators (every figure is read from it, never from the table rows)

The indicators put a case in the period in which it was reported and read 13 more columns of it; with all
of them in one index led by ``reported_at`` a month of a million-case table is one index range scan. It
replaces the earlier ``ix_cases_indicators`` (led by ``dispatched_at``), which no query uses any more.

Revision ID: 0009_caseind
Revises: 0007_open311
Create Date: 2026-11-28 14:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0009_caseind"
down_revision = "0007_open311"
branch_labels = None
depends_on = None

OLD = ["dispatched_at", "unit_id", "state", "feedback_at", "handle_due_at", "rework_count", "rating"]
NEW = [
    "reported_at",
    "unit_id",
    "street_id",
    "state",
    "source",
    "rating",
    "rework_count",
    "registered_at",
    "voided_at",
    "register_due_at",
    "dispatched_at",
    "dispatch_due_at",
    "feedback_at",
    "handle_due_at",
]


# Plain index operations (no batch mode): SQLite must not copy a million-row table to swap an index.
def upgrade() -> None:
    op.drop_index("ix_cases_indicators", table_name="cases")
    op.create_index("ix_cases_indicators", "cases", NEW, unique=False)


def downgrade() -> None:
    op.drop_index("ix_cases_indicators", table_name="cases")
    op.create_index("ix_cases_indicators", "cases", OLD, unique=False)
