"""Cases: categories, the case itself, its steps (deadlines), timeline, files, ratings, routing.

Every step of the GB/T 30428 loop leaves a timestamp on the case (``reported_at`` … ``closed_at``) and a
``CaseStep`` row per attempt (started, due, done, outcome, and the worker's reminder/overdue/escalation
markers), so indicators are plain aggregates and the worker is idempotent across restarts.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityloop.core.clock import now
from cityloop.core.db import Base, BigId, IdMixin, JSONDoc, UTCDateTime
from cityloop.org.models import Unit


class Category(IdMixin, Base):
    """A leaf of the 部件/事件 taxonomy (CJ/T 214, GB/T 30428.2) with its handling defaults."""

    __tablename__ = "case_categories"
    __table_args__ = (UniqueConstraint("scheme", "kind", "minor_code", name="uq_case_categories_leaf"),)

    # What clients send: "BJ0101" (部件) / "SJ0501" (事件); other schemes add "@scheme".
    code: Mapped[str] = mapped_column(String(60), unique=True)
    scheme: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))  # component (部件) | event (事件)
    major_code: Mapped[str] = mapped_column(String(8))
    major_name: Mapped[str] = mapped_column(String(80))
    minor_code: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str | None] = mapped_column(String(160))
    # Who handles it by default: department (handler_unit), street (the street/town of the point),
    # enforcement (that street/town's squadron) or manual (the dispatcher decides).
    handler: Mapped[str] = mapped_column(String(20), default="manual")
    handler_unit: Mapped[str | None] = mapped_column(String(40))
    # {"normal": {"register_minutes", "dispatch_minutes", "handle_hours", "verify_hours"}, "urgent": …}
    deadlines: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    working_hours: Mapped[bool] = mapped_column(Boolean, default=True)
    duplicate_radius_m: Mapped[int] = mapped_column(Integer, default=50)
    duplicate_window_hours: Mapped[int] = mapped_column(Integer, default=72)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str | None] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


# Open cases are a small share of all cases: the queues, the map and duplicate checks read them through
# partial indexes. Queries must state this very text (``OPEN_SQL``) for a planner to pick those indexes.
OPEN_SQL = "state NOT IN ('closed', 'merged', 'voided')"
# Indicators per unit and period read only this index, never the table rows (cases/indicators.py:
# a case counts in the period it was reported in, so reported_at leads).
INDICATOR_COLUMNS = (
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
    "handle_late",
    "verify_late",
    "handle_extended",
)
# The map (cases/map.py) counts cases per grid cell by key ranges of this index, reading no table row
# for the queue's filters (state, category, source, units and areas, duplicates, overdue); filters on
# open cases (the queue's default, overdue) read its partial twin, a few thousand entries.
MAP_COLUMNS = (
    "map_cell",
    "state",
    "category_id",
    "source",
    "unit_id",
    "street_id",
    "grid_id",
    "possible_duplicate",
    "due_at",
)


def _open_index(name: str, *columns: str) -> Index:
    where = text(OPEN_SQL)
    return Index(name, *columns, sqlite_where=where, postgresql_where=where)


class Case(IdMixin, Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_unit_reported", "unit_id", "reported_at"),
        Index("ix_cases_street_reported", "street_id", "reported_at"),
        Index("ix_cases_indicators", *INDICATOR_COLUMNS),
        Index("ix_cases_map", *MAP_COLUMNS),
        _open_index("ix_cases_open_map", *MAP_COLUMNS),
        _open_index("ix_cases_open_reported", "reported_at"),
        _open_index("ix_cases_open_unit", "unit_id", "due_at"),
        _open_index("ix_cases_open_category", "category_id", "h3_cell"),
        _open_index("ix_cases_open_street", "street_id", "reported_at"),
        _open_index("ix_cases_open_due", "due_at"),
        _open_index("ix_cases_open_place", "lat", "lon"),
    )

    tracking_no: Mapped[str] = mapped_column(String(32), unique=True)
    source: Mapped[str] = mapped_column(String(20))
    source_ref: Mapped[str | None] = mapped_column(String(120))  # 12345 ticket, sensor alert id …
    category_id: Mapped[int] = mapped_column(ForeignKey("case_categories.id"))
    urgency: Mapped[str] = mapped_column(String(12), default="normal")
    state: Mapped[str] = mapped_column(String(24))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300))
    h3_cell: Mapped[str | None] = mapped_column(String(16))
    # Morton key of the Web Mercator position (cases/mapcells.py): the map's grid clusters.
    map_cell: Mapped[int | None] = mapped_column(BigId)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    routing_reason: Mapped[str | None] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    reporter_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    reporter_name: Mapped[str | None] = mapped_column(String(80))
    reporter_phone: Mapped[str | None] = mapped_column(String(40))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    possible_duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    extension_count: Mapped[int] = mapped_column(Integer, default=0)
    # Each unit is judged on its own attempts (cases/indicators.py): set when a handling attempt of the
    # responsible unit ended after its deadline / had an approved extension; recomputed when the case is
    # dispatched to another unit. ``verify_late``: a verification ended after its deadline.
    handle_late: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    handle_extended: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    verify_late: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    supporters_count: Mapped[int] = mapped_column(Integer, default=0)
    # The reporter's rating, copied from case_ratings so satisfaction rates need no join.
    rating: Mapped[str | None] = mapped_column(String(24))
    # Due time of the step now running (None when no clock runs): queue colours and the overdue filter.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    register_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispatch_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handle_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Indexed: the indicators' roll-up job and its readers look for cases changed since a watermark.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    category: Mapped[Category] = relationship(lazy="joined")
    # Loaded only on demand: the API resolves units from the cached area index (no unit rows, no polygons).
    unit: Mapped[Unit | None] = relationship(foreign_keys=[unit_id], lazy="select")
    street: Mapped[Unit | None] = relationship(foreign_keys=[street_id], lazy="select")
    grid: Mapped[Unit | None] = relationship(foreign_keys=[grid_id], lazy="select")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class CaseStep(IdMixin, Base):
    """One timed step of one case (one attempt: a rework or re-dispatch opens a new row)."""

    __tablename__ = "case_steps"
    __table_args__ = (
        Index("ix_case_steps_open_remind", "done_at", "remind_at"),
        Index("ix_case_steps_open_due", "done_at", "due_at"),
        Index("ix_case_steps_open_escalate", "done_at", "escalate_at"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(16))  # register | dispatch | handle | verify
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    remind_at: Mapped[datetime] = mapped_column(UTCDateTime())
    escalate_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(20))  # done, returned, parked, voided, failed …
    # Set once by the worker; a marker present means that notice went out and never goes again.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Time allowed, extensions included; reminder and escalation points are recomputed from it.
    allowed_minutes: Mapped[float] = mapped_column(Float)
    working_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    extensions: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))  # approved (延期)


class CaseReturn(IdMixin, Base):
    """A dispatch the unit returned as not theirs (退回): an inaccurate dispatch, judged against that unit.

    The case's own columns describe only its current dispatch; each earlier, returned one is a row
    here, so 派遣数, 按时派遣数 and 准确派遣数 count every dispatch for the unit it went to
    (cases/indicators.py)."""

    __tablename__ = "case_returns"
    __table_args__ = (Index("ix_case_returns_reported", "reported_at", "unit_id"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the case's: the period it counts in
    unit_id: Mapped[int | None] = mapped_column(Integer)  # the unit dispatched to, which returned it
    dispatched_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dispatched_on_time: Mapped[bool] = mapped_column(Boolean)
    returned_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseEvent(IdMixin, Base):
    """The timeline. ``public`` events (with ``public_note`` only) appear on the tracking page."""

    __tablename__ = "case_events"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(30))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str | None] = mapped_column(String(24))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(String(120))
    actor_role: Mapped[str | None] = mapped_column(String(30))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))  # the unit that acted
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)  # internal
    public_note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[int] | None] = mapped_column(JSONDoc)  # attachment ids
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)

    unit: Mapped[Unit | None] = relationship(lazy="select")


class Attachment(IdMixin, Base):
    __tablename__ = "case_attachments"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20), default="report")  # report | evidence | verification
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class Rating(IdMixin, Base):
    """The reporter's satisfaction (满意/基本满意/不满意): the basis of 满意率."""

    __tablename__ = "case_ratings"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    score: Mapped[str] = mapped_column(String(24))  # satisfied | basically_satisfied | dissatisfied
    comment: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(20))  # citizen | callback (hotline 回访)
    rated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Supporter(IdMixin, Base):
    """“Me too”: another citizen has the same problem; they follow the case."""

    __tablename__ = "case_supporters"
    __table_args__ = (UniqueConstraint("case_id", "user_id", name="uq_case_supporters_case_user"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class RoutingRule(IdMixin, Base):
    """category × area → unit. Either side may be empty (any); the most specific rule wins."""

    __tablename__ = "case_routing_rules"

    category_id: Mapped[int | None] = mapped_column(ForeignKey("case_categories.id"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    category: Mapped[Category | None] = relationship(lazy="joined")
    area: Mapped[Unit | None] = relationship(foreign_keys=[area_id], lazy="joined")
    unit: Mapped[Unit] = relationship(foreign_keys=[unit_id], lazy="joined")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class IdempotencyKey(IdMixin, Base):
    """A client's key for one report: a retry with the same key gets the same case, never a second."""

    __tablename__ = "case_idempotency_keys"
    __table_args__ = (UniqueConstraint("owner", "key", name="uq_case_idempotency_keys_owner_key"),)

    owner: Mapped[str] = mapped_column(String(60))  # "user:12", "open311:app" …
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseCounter(Base):
    """The last tracking number handed out per year (JLP-2026-000123)."""

    __tablename__ = "case_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(BigId, default=0)


class Notification(IdMixin, Base):
    """Outbox: created in the transaction that decides it, delivered later by the worker."""

    __tablename__ = "case_notifications"

    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(20))  # reminder | overdue | escalation | closed
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("case_steps.id", ondelete="CASCADE"))
    audience: Mapped[str] = mapped_column(String(20))  # unit | unit_leader | supervisor | reporter
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    message_key: Mapped[str] = mapped_column(String(80))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Open311Key(IdMixin, Base):
    """An app allowed to POST Open311 requests; only the SHA-256 of its key is kept."""

    __tablename__ = "open311_keys"

    name: Mapped[str] = mapped_column(String(60), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- indicator roll-ups (cases/rollup.py) -----------------------------------------------------------------


class CaseRollup(IdMixin, Base):
    """Exact monthly counters of the indicators per (month of ``reported_at`` in the display zone,
    responsible unit, street/town): the very ``Counts`` of cases/indicators.py, kept by the worker."""

    __tablename__ = "case_rollups"
    __table_args__ = (Index("ix_case_rollups_month", "month", "unit_id", "street_id"),)

    month: Mapped[date] = mapped_column(Date)  # first day of the month (display zone)
    unit_id: Mapped[int | None] = mapped_column(Integer)
    street_id: Mapped[int | None] = mapped_column(Integer)
    reported: Mapped[int] = mapped_column(Integer, default=0)
    voided: Mapped[int] = mapped_column(Integer, default=0)
    merged: Mapped[int] = mapped_column(Integer, default=0)
    registered: Mapped[int] = mapped_column(Integer, default=0)
    dispatched: Mapped[int] = mapped_column(Integer, default=0)
    dispatched_on_time: Mapped[int] = mapped_column(Integer, default=0)
    handled: Mapped[int] = mapped_column(Integer, default=0)
    handled_on_time: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[int] = mapped_column(Integer, default=0)
    dispatched_accurately: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    closed_on_time: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    extended: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    reworked: Mapped[int] = mapped_column(Integer, default=0)
    rated: Mapped[int] = mapped_column(Integer, default=0)
    satisfied: Mapped[int] = mapped_column(Integer, default=0)
    basically_satisfied: Mapped[int] = mapped_column(Integer, default=0)
    dissatisfied: Mapped[int] = mapped_column(Integer, default=0)
    hotline: Mapped[int] = mapped_column(Integer, default=0)
    hotline_due: Mapped[int] = mapped_column(Integer, default=0)
    hotline_responded: Mapped[int] = mapped_column(Integer, default=0)
    hotline_registered: Mapped[int] = mapped_column(Integer, default=0)
    hotline_closed: Mapped[int] = mapped_column(Integer, default=0)
    hotline_rated: Mapped[int] = mapped_column(Integer, default=0)
    hotline_satisfied: Mapped[int] = mapped_column(Integer, default=0)
    # 12345 tickets not answered whose response deadline was still ahead when the month was rolled up:
    # they become "due" (hotline_due) by the clock alone, without the case changing.
    hotline_pending: Mapped[int] = mapped_column(Integer, default=0)


class CaseRollupMonth(Base):
    """One row per rolled-up month: when, whether something outside the case rows (an import) made it
    dirty, and until when its pending 12345 tickets keep it from being served."""

    __tablename__ = "case_rollup_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    rolled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dirty_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pending_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CaseRollupMark(Base):
    """The roll-up job's durable watermark: every case with ``updated_at`` ≤ ``at`` is in the roll-ups."""

    __tablename__ = "case_rollup_marks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


@event.listens_for(Case, "before_insert")
@event.listens_for(Case, "before_update")
def _map_cell(_mapper: Any, _conn: Any, case: Case) -> None:
    """Cases written through the ORM keep ``map_cell`` in step with their position (the intake and the
    import set it on their own plain INSERTs)."""
    from cityloop.cases.mapcells import cell_of

    case.map_cell = cell_of(case.lon, case.lat)
