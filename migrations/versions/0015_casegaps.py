"""cases: the map's grid cells, per-attempt indicator flags, returned dispatches, three more indicators

- ``cases.map_cell`` (Morton key of the position, cases/mapcells.py), ``ix_cases_map`` and its partial twin
  on open cases ``ix_cases_open_map``: the queue map counts every matching case per grid cell from an index
  alone.
- ``cases.handle_late`` / ``handle_extended`` / ``verify_late`` and ``case_steps.extensions``: on-time and
  extension indicators judge every attempt of the responsible unit, not only the last; ``case_returns``:
  one row per dispatch a unit returned (准确派遣率, and each dispatch judged for the unit it went to).
- ``case_rollups`` gain ``dispatched_accurately``, ``closed_on_time``, ``extended``; the old roll-ups lack
  them (and count dispatches the old way), so they are dropped and the watermark removed: the job's next
  run rebuilds every month, and until then every month is counted live (exact, only slower).
- ``ix_cases_indicators`` is rebuilt with the three flags (the indicators still read only that index).

Existing cases are back-filled from their steps (a late handling attempt of the current unit, a late
verification, returned handling steps); ``handle_extended`` from ``extension_count`` (older steps did not
record which attempt was extended).

Revision ID: 0015_casegaps
Revises: 0012_leaks2
Create Date: 2026-11-28 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityloop.core.db

revision = "0015_casegaps"
down_revision = "0012_leaks2"
branch_labels = None
depends_on = None

OLD_INDICATORS = [
    "reported_at", "unit_id", "street_id", "state", "source", "rating", "rework_count", "registered_at",
    "voided_at", "register_due_at", "dispatched_at", "dispatch_due_at", "feedback_at", "handle_due_at",
]  # fmt: skip
NEW_INDICATORS = [*OLD_INDICATORS, "handle_late", "verify_late", "handle_extended"]
MAP = ["map_cell", "state", "category_id", "source", "unit_id", "street_id", "grid_id",
       "possible_duplicate", "due_at"]  # fmt: skip
ROLLUP_COUNTS = ("dispatched_accurately", "closed_on_time", "extended")
FLAGS = ("handle_late", "handle_extended", "verify_late")
OPEN_SQL = "state NOT IN ('closed', 'merged', 'voided')"  # models.OPEN_SQL, as it was at this revision


def _backfill_cells(conn: sa.Connection) -> None:
    from cityloop.cases.mapcells import cells_of

    last = 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT id, lon, lat FROM cases WHERE id > :last AND lon IS NOT NULL AND lat IS NOT NULL "
                "ORDER BY id LIMIT 20000"
            ),
            {"last": last},
        ).all()
        if not rows:
            return
        cells = cells_of([r[1] for r in rows], [r[2] for r in rows])
        conn.execute(
            sa.text("UPDATE cases SET map_cell = :c WHERE id = :i"),
            [{"c": c, "i": r[0]} for r, c in zip(rows, cells, strict=True)],
        )
        last = rows[-1][0]


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.add_column("cases", sa.Column("map_cell", big, nullable=True))
    for name in FLAGS:
        op.add_column("cases", sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("case_steps", sa.Column("extensions", sa.Integer(), nullable=False, server_default="0"))
    for name in ROLLUP_COUNTS:
        op.add_column("case_rollups", sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "case_returns",
        sa.Column("case_id", big, nullable=False),
        sa.Column("reported_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("dispatched_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dispatched_on_time", sa.Boolean(), nullable=False),
        sa.Column("returned_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_returns_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_returns")),
    )
    op.create_index("ix_case_returns_case_id", "case_returns", ["case_id"], unique=False)
    op.create_index("ix_case_returns_reported", "case_returns", ["reported_at", "unit_id"], unique=False)

    conn = op.get_bind()
    conn.execute(
        sa.text(
            "UPDATE cases SET handle_late = ("
            "(feedback_at IS NOT NULL AND handle_due_at IS NOT NULL AND feedback_at > handle_due_at) OR "
            "EXISTS (SELECT 1 FROM case_steps s WHERE s.case_id = cases.id AND s.step = 'handle' "
            "AND s.unit_id = cases.unit_id AND s.done_at > s.due_at)), "
            "verify_late = EXISTS (SELECT 1 FROM case_steps s WHERE s.case_id = cases.id "
            "AND s.step = 'verify' AND s.done_at > s.due_at), "
            "handle_extended = (extension_count > 0) "
            "WHERE feedback_at IS NOT NULL OR extension_count > 0 OR dispatched_at IS NOT NULL"
        )
    )
    conn.execute(
        sa.text(
            "INSERT INTO case_returns (case_id, reported_at, unit_id, dispatched_at, dispatched_on_time, "
            "returned_at) SELECT s.case_id, c.reported_at, s.unit_id, s.started_at, "
            "COALESCE((SELECT d.done_at <= d.due_at FROM case_steps d WHERE d.case_id = s.case_id "
            "AND d.step = 'dispatch' AND d.done_at = s.started_at LIMIT 1), false), s.done_at "
            "FROM case_steps s JOIN cases c ON c.id = s.case_id "
            "WHERE s.step = 'handle' AND s.outcome = 'returned' AND s.done_at IS NOT NULL"
        )
    )
    _backfill_cells(conn)
    # Roll-ups without the new counts: rebuilt by the job's next run (no watermark = every month).
    conn.execute(sa.text("DELETE FROM case_rollups"))
    conn.execute(sa.text("DELETE FROM case_rollup_months"))
    conn.execute(sa.text("DELETE FROM case_rollup_marks WHERE name = 'cases.rollup'"))
    # Plain index operations (no batch mode): SQLite must not copy a million-row table to swap an index.
    op.drop_index("ix_cases_indicators", table_name="cases")
    op.create_index("ix_cases_indicators", "cases", NEW_INDICATORS, unique=False)
    op.create_index("ix_cases_map", "cases", MAP, unique=False)
    where = sa.text(OPEN_SQL)
    op.create_index(
        "ix_cases_open_map", "cases", MAP, unique=False, sqlite_where=where, postgresql_where=where
    )


def downgrade() -> None:
    op.drop_index("ix_cases_open_map", table_name="cases")
    op.drop_index("ix_cases_map", table_name="cases")
    op.drop_index("ix_cases_indicators", table_name="cases")
    op.create_index("ix_cases_indicators", "cases", OLD_INDICATORS, unique=False)
    conn = op.get_bind()
    conn.execute(sa.text("DELETE FROM case_rollups"))
    conn.execute(sa.text("DELETE FROM case_rollup_months"))
    conn.execute(sa.text("DELETE FROM case_rollup_marks WHERE name = 'cases.rollup'"))
    op.drop_index("ix_case_returns_reported", table_name="case_returns")
    op.drop_index("ix_case_returns_case_id", table_name="case_returns")
    op.drop_table("case_returns")
    with op.batch_alter_table("case_rollups") as batch:
        for name in ROLLUP_COUNTS:
            batch.drop_column(name)
    with op.batch_alter_table("case_steps") as batch:
        batch.drop_column("extensions")
    with op.batch_alter_table("cases") as batch:
        for name in (*FLAGS, "map_cell"):
            batch.drop_column(name)
