"""programme: the ten actions, tasks, milestones, reports, acceptance, problems, supervision

Revision ID: 0003_programme
Revises: 0002_cases
Create Date: 2026-11-28 11:02:30.499986
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityloop.core.db

revision = "0003_programme"
down_revision = "0002_cases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "programme_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_programme_blobs")),
    )
    op.create_table(
        "programme_checklists",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("items", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_checklists")),
        sa.UniqueConstraint("code", name=op.f("uq_programme_checklists_code")),
    )
    op.create_table(
        "programme_scans",
        sa.Column("started_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("notices", sa.Integer(), nullable=False),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_scans")),
    )
    with op.batch_alter_table("programme_scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_programme_scans_started_at"), ["started_at"], unique=False)

    op.create_table(
        "programmes",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("owner_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("supervision", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("weights", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["owner_unit_id"], ["units.id"], name=op.f("fk_programmes_owner_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programmes")),
        sa.UniqueConstraint("code", name=op.f("uq_programmes_code")),
    )
    op.create_table(
        "programme_actions",
        sa.Column("programme_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("taskforce_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("lead_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("lead_leader_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("visions", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["lead_leader_id"], ["people.id"], name=op.f("fk_programme_actions_lead_leader_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["lead_unit_id"], ["units.id"], name=op.f("fk_programme_actions_lead_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_programme_actions_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(
            ["taskforce_unit_id"], ["units.id"], name=op.f("fk_programme_actions_taskforce_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_actions")),
        sa.UniqueConstraint("programme_id", "code", name=op.f("uq_programme_actions_programme_id")),
    )
    with op.batch_alter_table("programme_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_programme_actions_lead_unit_id"), ["lead_unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_programme_actions_programme_id"), ["programme_id"], unique=False)

    op.create_table(
        "programme_score_snapshots",
        sa.Column("programme_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("key", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("computed_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("raised", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programmes.id"],
            name=op.f("fk_programme_score_snapshots_programme_id_programmes"),
        ),
        sa.PrimaryKeyConstraint(
            "programme_id", "month", "level", "key", name=op.f("pk_programme_score_snapshots")
        ),
    )
    op.create_table(
        "programme_action_checklists",
        sa.Column("action_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("checklist_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["programme_actions.id"],
            name=op.f("fk_programme_action_checklists_action_id_programme_actions"),
        ),
        sa.ForeignKeyConstraint(
            ["checklist_id"],
            ["programme_checklists.id"],
            name=op.f("fk_programme_action_checklists_checklist_id_programme_checklists"),
        ),
        sa.PrimaryKeyConstraint("action_id", "checklist_id", name=op.f("pk_programme_action_checklists")),
    )
    op.create_table(
        "programme_action_units",
        sa.Column("action_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["programme_actions.id"],
            name=op.f("fk_programme_action_units_action_id_programme_actions"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_programme_action_units_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("action_id", "unit_id", name=op.f("pk_programme_action_units")),
    )
    op.create_table(
        "programme_tasks",
        sa.Column("programme_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("indicator", sa.String(length=80), nullable=False),
        sa.Column("indicator_unit", sa.String(length=20), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("target_value", sa.Float(), nullable=False),
        sa.Column("current_value", sa.Float(), nullable=False),
        sa.Column("progress_pct", sa.Float(), nullable=False),
        sa.Column(
            "responsible_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "responsible_person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("place", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("place_kind", sa.String(length=16), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("site_plan", sa.Text(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("status_reason", sa.String(length=40), nullable=True),
        sa.Column("status_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_report_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("returned_count", sa.Integer(), nullable=False),
        sa.Column("created_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["programme_actions.id"],
            name=op.f("fk_programme_tasks_action_id_programme_actions"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_programme_tasks_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(
            ["responsible_person_id"],
            ["people.id"],
            name=op.f("fk_programme_tasks_responsible_person_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["responsible_unit_id"], ["units.id"], name=op.f("fk_programme_tasks_responsible_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_tasks")),
        sa.UniqueConstraint("programme_id", "code", name=op.f("uq_programme_tasks_programme_id")),
    )
    with op.batch_alter_table("programme_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_programme_tasks_action_status", ["action_id", "status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_programme_tasks_responsible_unit_id"), ["responsible_unit_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_programme_tasks_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_programme_tasks_status"), ["status"], unique=False)

    op.create_table(
        "programme_acceptances",
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("checked_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checker_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("checker_name", sa.String(length=120), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("results", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["checker_user_id"], ["users.id"], name=op.f("fk_programme_acceptances_checker_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["programme_tasks.id"], name=op.f("fk_programme_acceptances_task_id_programme_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_acceptances")),
    )
    with op.batch_alter_table("programme_acceptances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_programme_acceptances_task_id"), ["task_id"], unique=False)

    op.create_table(
        "programme_milestones",
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("deliverable", sa.Text(), nullable=True),
        sa.Column("planned_pct", sa.Float(), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["programme_tasks.id"], name=op.f("fk_programme_milestones_task_id_programme_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_milestones")),
        sa.UniqueConstraint("task_id", "seq", name=op.f("uq_programme_milestones_task_id")),
    )
    with op.batch_alter_table("programme_milestones", schema=None) as batch_op:
        batch_op.create_index("ix_programme_milestones_dates", ["task_id", "due_on", "done_on"], unique=False)

    op.create_table(
        "programme_notices",
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("cause", sa.String(length=80), nullable=False),
        sa.Column("to_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("issued_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reply_due_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("escalated_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("replied_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replier_name", sa.String(length=120), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["programme_tasks.id"], name=op.f("fk_programme_notices_task_id_programme_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["to_unit_id"], ["units.id"], name=op.f("fk_programme_notices_to_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_notices")),
        sa.UniqueConstraint("number", name=op.f("uq_programme_notices_number")),
        sa.UniqueConstraint("task_id", "cause", name=op.f("uq_programme_notices_task_id")),
    )
    with op.batch_alter_table("programme_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_programme_notices_reply_due_at"), ["reply_due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_programme_notices_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_programme_notices_to_unit_id"), ["to_unit_id"], unique=False)

    op.create_table(
        "programme_problems",
        sa.Column("programme_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "responsible_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("raised_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("raised_by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("raiser_name", sa.String(length=120), nullable=False),
        sa.Column("rectification", sa.Text(), nullable=True),
        sa.Column("rectified_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approver_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("approver_name", sa.String(length=120), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["programme_actions.id"],
            name=op.f("fk_programme_problems_action_id_programme_actions"),
        ),
        sa.ForeignKeyConstraint(
            ["approver_user_id"], ["users.id"], name=op.f("fk_programme_problems_approver_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_programme_problems_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(
            ["raised_by_user_id"], ["users.id"], name=op.f("fk_programme_problems_raised_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["responsible_unit_id"],
            ["units.id"],
            name=op.f("fk_programme_problems_responsible_unit_id_units"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["programme_tasks.id"], name=op.f("fk_programme_problems_task_id_programme_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_problems")),
        sa.UniqueConstraint("number", name=op.f("uq_programme_problems_number")),
    )
    with op.batch_alter_table("programme_problems", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_programme_problems_action_id"), ["action_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_programme_problems_responsible_unit_id"), ["responsible_unit_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_programme_problems_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_programme_problems_task_id"), ["task_id"], unique=False)

    op.create_table(
        "programme_events",
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("notice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=True),
        sa.Column("at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("to_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("to_person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("detail", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["programme_notices.id"],
            name=op.f("fk_programme_events_notice_id_programme_notices"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["programme_tasks.id"], name=op.f("fk_programme_events_task_id_programme_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["to_person_id"], ["people.id"], name=op.f("fk_programme_events_to_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["to_unit_id"], ["units.id"], name=op.f("fk_programme_events_to_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_events")),
        sa.UniqueConstraint("key", name=op.f("uq_programme_events_key")),
    )
    with op.batch_alter_table("programme_events", schema=None) as batch_op:
        batch_op.create_index("ix_programme_events_task_at", ["task_id", "at"], unique=False)

    op.create_table(
        "programme_evidence",
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("problem_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("owner_type", sa.String(length=20), nullable=True),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("uploader_name", sa.String(length=120), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["problem_id"],
            ["programme_problems.id"],
            name=op.f("fk_programme_evidence_problem_id_programme_problems"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["programme_tasks.id"], name=op.f("fk_programme_evidence_task_id_programme_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_user_id"],
            ["users.id"],
            name=op.f("fk_programme_evidence_uploaded_by_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_evidence")),
    )
    with op.batch_alter_table("programme_evidence", schema=None) as batch_op:
        batch_op.create_index("ix_programme_evidence_owner", ["owner_type", "owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_programme_evidence_problem_id"), ["problem_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_programme_evidence_task_id"), ["task_id"], unique=False)

    op.create_table(
        "programme_reports",
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("milestone_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reported_at", cityloop.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reporter_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reporter_name", sa.String(length=120), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("progress_pct", sa.Float(), nullable=False),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["milestone_id"],
            ["programme_milestones.id"],
            name=op.f("fk_programme_reports_milestone_id_programme_milestones"),
        ),
        sa.ForeignKeyConstraint(
            ["reporter_user_id"], ["users.id"], name=op.f("fk_programme_reports_reporter_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["programme_tasks.id"], name=op.f("fk_programme_reports_task_id_programme_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_reports")),
    )
    with op.batch_alter_table("programme_reports", schema=None) as batch_op:
        batch_op.create_index("ix_programme_reports_task_at", ["task_id", "reported_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("programme_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_programme_reports_task_at")

    op.drop_table("programme_reports")
    with op.batch_alter_table("programme_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programme_evidence_task_id"))
        batch_op.drop_index(batch_op.f("ix_programme_evidence_problem_id"))
        batch_op.drop_index("ix_programme_evidence_owner")

    op.drop_table("programme_evidence")
    with op.batch_alter_table("programme_events", schema=None) as batch_op:
        batch_op.drop_index("ix_programme_events_task_at")

    op.drop_table("programme_events")
    with op.batch_alter_table("programme_problems", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programme_problems_task_id"))
        batch_op.drop_index(batch_op.f("ix_programme_problems_state"))
        batch_op.drop_index(batch_op.f("ix_programme_problems_responsible_unit_id"))
        batch_op.drop_index(batch_op.f("ix_programme_problems_action_id"))

    op.drop_table("programme_problems")
    with op.batch_alter_table("programme_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programme_notices_to_unit_id"))
        batch_op.drop_index(batch_op.f("ix_programme_notices_state"))
        batch_op.drop_index(batch_op.f("ix_programme_notices_reply_due_at"))

    op.drop_table("programme_notices")
    with op.batch_alter_table("programme_milestones", schema=None) as batch_op:
        batch_op.drop_index("ix_programme_milestones_dates")

    op.drop_table("programme_milestones")
    with op.batch_alter_table("programme_acceptances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programme_acceptances_task_id"))

    op.drop_table("programme_acceptances")
    with op.batch_alter_table("programme_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programme_tasks_status"))
        batch_op.drop_index(batch_op.f("ix_programme_tasks_state"))
        batch_op.drop_index(batch_op.f("ix_programme_tasks_responsible_unit_id"))
        batch_op.drop_index("ix_programme_tasks_action_status")

    op.drop_table("programme_tasks")
    op.drop_table("programme_action_units")
    op.drop_table("programme_action_checklists")
    op.drop_table("programme_score_snapshots")
    with op.batch_alter_table("programme_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programme_actions_programme_id"))
        batch_op.drop_index(batch_op.f("ix_programme_actions_lead_unit_id"))

    op.drop_table("programme_actions")
    op.drop_table("programmes")
    with op.batch_alter_table("programme_scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programme_scans_started_at"))

    op.drop_table("programme_scans")
    op.drop_table("programme_checklists")
    op.drop_table("programme_blobs")
