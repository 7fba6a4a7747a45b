"""The ten actions as tables: programme → actions → tasks (清单) → milestones → progress reports →
acceptance (末端验收), the problem ledger (问题清单), supervision notices (督办单) and the timeline.

Dates that people plan with (milestone due dates, problem deadlines) are calendar dates in the
district's zone; moments (a report, an acceptance, a notice) are aware UTC datetimes.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityloop.core.clock import now
from cityloop.core.db import Base, BigId, IdMixin, JSONDoc, UTCDateTime
from cityloop.org.models import Person, Unit

VISIONS = ("创新", "宜居", "美丽", "韧性", "文明", "智慧")


class TaskState(StrEnum):
    """Where a task is in plan → dispatch → acceptance (see ``states.py`` for the transitions)."""

    planned = "planned"
    in_progress = "in_progress"
    submitted = "submitted"  # 申请验收: waiting for the acceptance check
    returned = "returned"  # failed acceptance, back to the responsible unit
    accepted = "accepted"  # 末端验收 passed


class Status(StrEnum):
    """The supervision colour of a task (挂图作战)."""

    green = "green"
    yellow = "yellow"
    red = "red"
    done = "done"


class ProblemState(StrEnum):
    open = "open"
    rectified = "rectified"  # the responsible unit says it is fixed and attached evidence
    closed = "closed"  # 销号: approved with evidence


class Programme(IdMixin, Base):
    __tablename__ = "programmes"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    year: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    owner_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    # Supervision margins and evaluation weights are data a district edits, not constants.
    supervision: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    weights: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Checklist(IdMixin, Base):
    """A standard or checklist used in acceptance, e.g. the safety-resilience measures."""

    __tablename__ = "programme_checklists"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(Text)
    # [{"code": "1", "text": "..."}]
    items: Mapped[list[dict[str, str]]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class Action(IdMixin, Base):
    """One of the ten actions: lead leader, lead department, its special task force."""

    __tablename__ = "programme_actions"
    __table_args__ = (UniqueConstraint("programme_id", "code"),)

    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    taskforce_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    lead_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    lead_leader_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    visions: Mapped[list[str]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    programme: Mapped[Programme] = relationship(lazy="joined")
    lead_unit: Mapped[Unit] = relationship(foreign_keys=[lead_unit_id], lazy="joined")
    taskforce_unit: Mapped[Unit | None] = relationship(foreign_keys=[taskforce_unit_id], lazy="joined")
    lead_leader: Mapped[Person | None] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ActionUnit(Base):
    """Co-operating departments ("co") and implementing streets/towns ("local") of an action."""

    __tablename__ = "programme_action_units"

    action_id: Mapped[int] = mapped_column(ForeignKey("programme_actions.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(10))


class ActionChecklist(Base):
    __tablename__ = "programme_action_checklists"

    action_id: Mapped[int] = mapped_column(ForeignKey("programme_actions.id"), primary_key=True)
    checklist_id: Mapped[int] = mapped_column(ForeignKey("programme_checklists.id"), primary_key=True)


class Task(IdMixin, Base):
    """A ledger item (清单): one indicator from baseline to target, a named person, a place."""

    __tablename__ = "programme_tasks"
    __table_args__ = (
        UniqueConstraint("programme_id", "code"),
        Index("ix_programme_tasks_action_status", "action_id", "status"),
    )

    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    action_id: Mapped[int] = mapped_column(ForeignKey("programme_actions.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    target: Mapped[str | None] = mapped_column(Text)
    indicator: Mapped[str] = mapped_column(String(80))
    indicator_unit: Mapped[str] = mapped_column(String(20))
    baseline: Mapped[float] = mapped_column(Float)
    target_value: Mapped[float] = mapped_column(Float)
    current_value: Mapped[float] = mapped_column(Float)
    progress_pct: Mapped[float] = mapped_column(Float, default=0.0)
    responsible_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    responsible_person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    # GeoJSON Point / LineString / Polygon (WGS84); lon/lat is a representative point for the map.
    place: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    place_kind: Mapped[str | None] = mapped_column(String(16))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    site_plan: Mapped[str | None] = mapped_column(Text)  # 一点一策
    starts_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(20), default=TaskState.planned, index=True)
    status: Mapped[str] = mapped_column(String(10), default=Status.green, index=True)
    status_reason: Mapped[str | None] = mapped_column(String(40))
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_report_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    returned_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    action: Mapped[Action] = relationship(lazy="joined")
    responsible_unit: Mapped[Unit] = relationship(lazy="joined")
    responsible_person: Mapped[Person] = relationship(lazy="joined")
    milestones: Mapped[list[Milestone]] = relationship(
        order_by="Milestone.seq", cascade="all, delete-orphan", lazy="selectin"
    )
    # Indicators beyond the first (which stays on the task row and drives progress and supervision).
    extra_indicators: Mapped[list[TaskIndicator]] = relationship(
        order_by="TaskIndicator.seq", cascade="all, delete-orphan", lazy="selectin"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class TaskIndicator(IdMixin, Base):
    """A further indicator of a task (seq 2, 3, …): unit, baseline, target, the value last reported."""

    __tablename__ = "programme_task_indicators"
    __table_args__ = (UniqueConstraint("task_id", "seq"),)

    task_id: Mapped[int] = mapped_column(ForeignKey("programme_tasks.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(80))
    unit: Mapped[str] = mapped_column(String(20))
    baseline: Mapped[float] = mapped_column(Float)
    target_value: Mapped[float] = mapped_column(Float)
    current_value: Mapped[float] = mapped_column(Float)


class Milestone(IdMixin, Base):
    __tablename__ = "programme_milestones"
    # The second index covers evaluation's per-task counts (due, done, on time by a date).
    __table_args__ = (
        UniqueConstraint("task_id", "seq"),
        Index("ix_programme_milestones_dates", "task_id", "due_on", "done_on"),
    )

    task_id: Mapped[int] = mapped_column(ForeignKey("programme_tasks.id"))
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date)
    deliverable: Mapped[str | None] = mapped_column(Text)
    planned_pct: Mapped[float] = mapped_column(Float)  # cumulative progress planned by due_on
    done_on: Mapped[date | None] = mapped_column(Date)


class ProgressReport(IdMixin, Base):
    """过程调度: an indicator value, a narrative, evidence; may complete a milestone."""

    __tablename__ = "programme_reports"
    __table_args__ = (Index("ix_programme_reports_task_at", "task_id", "reported_at"),)

    task_id: Mapped[int] = mapped_column(ForeignKey("programme_tasks.id"))
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("programme_milestones.id"))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    reporter_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reporter_name: Mapped[str] = mapped_column(String(120))
    value: Mapped[float] = mapped_column(Float)
    progress_pct: Mapped[float] = mapped_column(Float)
    narrative: Mapped[str] = mapped_column(Text)
    # Values of the further indicators reported with this one: {"2": 35.0, …} (seq → value).
    indicator_values: Mapped[dict[str, float] | None] = mapped_column(JSONDoc)


class Acceptance(IdMixin, Base):
    """末端验收: the checklist answered item by item, a verdict, evidence."""

    __tablename__ = "programme_acceptances"

    task_id: Mapped[int] = mapped_column(ForeignKey("programme_tasks.id"), index=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    checker_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    checker_name: Mapped[str] = mapped_column(String(120))
    passed: Mapped[bool] = mapped_column(Boolean)
    # [{"checklist": code, "item": code, "text": ..., "result": "ok"|"fail"|"na", "note": ...}]
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    comment: Mapped[str | None] = mapped_column(Text)


class Problem(IdMixin, Base):
    """问题清单: a problem with a responsible unit and a deadline, struck off (销号) with evidence."""

    __tablename__ = "programme_problems"

    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    action_id: Mapped[int] = mapped_column(ForeignKey("programme_actions.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("programme_tasks.id"), index=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    source: Mapped[str] = mapped_column(String(20))  # supervision | inspection | report
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    responsible_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    deadline: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(20), default=ProblemState.open, index=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    raised_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    raiser_name: Mapped[str] = mapped_column(String(120))
    rectification: Mapped[str | None] = mapped_column(Text)
    rectified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approver_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approver_name: Mapped[str | None] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(Integer, default=1)

    action: Mapped[Action] = relationship(lazy="joined")
    responsible_unit: Mapped[Unit] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Evidence(IdMixin, Base):
    """A file proving progress, acceptance or rectification; content is in the evidence store."""

    __tablename__ = "programme_evidence"
    __table_args__ = (Index("ix_programme_evidence_owner", "owner_type", "owner_id"),)

    task_id: Mapped[int | None] = mapped_column(ForeignKey("programme_tasks.id"), index=True)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("programme_problems.id"), index=True)
    # What the file was attached to ("report", "acceptance", "problem"); empty until attached.
    owner_type: Mapped[str | None] = mapped_column(String(20))
    owner_id: Mapped[int | None] = mapped_column(BigId)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    uploaded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploader_name: Mapped[str] = mapped_column(String(120))


class Blob(Base):
    """Evidence content addressed by its SHA-256 (the database evidence store)."""

    __tablename__ = "programme_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Notice(IdMixin, Base):
    """督办单: issued once per (task, cause); escalates when its reply is late."""

    __tablename__ = "programme_notices"
    __table_args__ = (UniqueConstraint("task_id", "cause"),)

    number: Mapped[str] = mapped_column(String(40), unique=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("programme_tasks.id"))
    cause: Mapped[str] = mapped_column(String(80))
    to_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reply_due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # 0: the responsible unit; 1: the action's lead leader; 2: the general task-force office.
    level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reply: Mapped[str | None] = mapped_column(Text)
    replier_name: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(10), default="open", index=True)

    task: Mapped[Task] = relationship(lazy="joined")
    to_unit: Mapped[Unit] = relationship(lazy="joined")


class Event(IdMixin, Base):
    """One line of a task's supervision timeline. ``key`` makes once-only events unique."""

    __tablename__ = "programme_events"
    __table_args__ = (Index("ix_programme_events_task_at", "task_id", "at"),)

    task_id: Mapped[int] = mapped_column(ForeignKey("programme_tasks.id"))
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("programme_notices.id"))
    kind: Mapped[str] = mapped_column(String(20))  # status | reminder | notice | escalation | reply
    key: Mapped[str | None] = mapped_column(String(120), unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    level: Mapped[int | None] = mapped_column(Integer)
    to_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    to_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class Scan(IdMixin, Base):
    """One supervision scan: when it ran and what it changed (for operators and the weekly report)."""

    __tablename__ = "programme_scans"

    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    as_of: Mapped[date] = mapped_column(Date)
    tasks: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    notices: Mapped[int] = mapped_column(Integer, default=0)
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    escalations: Mapped[int] = mapped_column(Integer, default=0)


class ScoreSnapshot(Base):
    """A month's evaluation counts per action, department and street/town, as last computed by the
    worker: the 红黑榜 page reads these instead of re-counting every milestone on each view."""

    __tablename__ = "programme_score_snapshots"

    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    level: Mapped[str] = mapped_column(String(12), primary_key=True)
    key: Mapped[int] = mapped_column(Integer, primary_key=True)  # action id or unit id
    as_of: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer)
    on_time: Mapped[int] = mapped_column(Integer)
    raised: Mapped[int] = mapped_column(Integer)
    closed: Mapped[int] = mapped_column(Integer)
    checks: Mapped[int] = mapped_column(Integer)
    passed: Mapped[int] = mapped_column(Integer)
