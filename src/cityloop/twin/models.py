"""The digital twin: networks and their elements, sensors, readings, warnings, case requests.

Readings are the big table: keyed by (sensor, timestamp) with no surrogate id, so a redelivered
message is stored once by ``INSERT … ON CONFLICT DO NOTHING`` on both databases.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
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
from cityloop.core.db import Base, IdMixin, JSONDoc, UTCDateTime
from cityloop.org.models import Unit


class NetworkKind(StrEnum):
    water = "water"
    drainage = "drainage"
    gas = "gas"


class Level(StrEnum):
    """Warning levels, lowest first (蓝 < 黄 < 橙 < 红)."""

    blue = "blue"
    yellow = "yellow"
    orange = "orange"
    red = "red"


LEVEL_RANK = {Level.blue: 1, Level.yellow: 2, Level.orange: 3, Level.red: 4}


class Network(IdMixin, Base):
    __tablename__ = "twin_networks"

    name: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    # The operator unit (供水/排水/燃气 运营单位) that owns the network: scope follows its path.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(200))
    file_format: Mapped[str] = mapped_column(String(30))
    model_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # How model coordinates became lon/lat: {"method": "offset"|"crs"|"lonlat", ...}.
    placement: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    schematic: Mapped[bool] = mapped_column(Boolean, default=False)
    # "file" when the user supplied isolation valves, "generated-strategic-N-1" otherwise.
    valve_layer: Mapped[str] = mapped_column(String(40), default="none")
    summary: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)

    unit: Mapped[Unit] = relationship(lazy="joined")


class Element(IdMixin, Base):
    """One node, link or isolation valve of a network, with its WGS84 geometry."""

    __tablename__ = "twin_elements"
    __table_args__ = (UniqueConstraint("network_id", "category", "ref"),)

    network_id: Mapped[int] = mapped_column(ForeignKey("twin_networks.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(String(10))  # node | link | valve
    ref: Mapped[str] = mapped_column(String(120))  # the id inside the model file
    type: Mapped[str] = mapped_column(String(30))  # junction, tank, pipe, pump, conduit, sink, …
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    props: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


class Sensor(IdMixin, Base):
    __tablename__ = "twin_sensors"

    code: Mapped[str] = mapped_column(String(80), unique=True)  # the {sensor_id} of the MQTT topic
    name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30), index=True)
    measure_unit: Mapped[str] = mapped_column(String(20))
    network_id: Mapped[int | None] = mapped_column(ForeignKey("twin_networks.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    asset_ref: Mapped[str | None] = mapped_column(String(120))  # element ref it measures
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    # Per-sensor overrides of the kind's default rules (see rules.py).
    rules: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)

    network: Mapped[Network | None] = relationship(lazy="joined")
    unit: Mapped[Unit] = relationship(lazy="joined")


class Reading(Base):
    __tablename__ = "twin_readings"

    sensor_id: Mapped[int] = mapped_column(ForeignKey("twin_sensors.id"), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class DeadLetter(IdMixin, Base):
    """Input that could not be stored, kept with the reason so nothing a sensor sends is lost."""

    __tablename__ = "twin_dead_letters"

    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, index=True)
    channel: Mapped[str] = mapped_column(String(10))  # mqtt | http
    topic: Mapped[str | None] = mapped_column(String(300))
    payload: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(300))


class WarningStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class TwinWarning(IdMixin, Base):
    __tablename__ = "twin_warnings"

    sensor_id: Mapped[int] = mapped_column(ForeignKey("twin_sensors.id"), index=True)
    network_id: Mapped[int | None] = mapped_column(ForeignKey("twin_networks.id"), index=True)
    cause: Mapped[str] = mapped_column(String(30))
    level: Mapped[str] = mapped_column(String(10))
    max_level: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default=WarningStatus.open, index=True)
    # "sensor:cause" while open, NULL once resolved: the unique index allows one open warning per cause.
    open_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    last_value: Mapped[float | None] = mapped_column(Float)
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    normal_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message: Mapped[str] = mapped_column(String(300))
    # none → pending (orange/red reached) → requested (case request made) | failed
    case_state: Mapped[str] = mapped_column(String(12), default="none", index=True)
    case_ref: Mapped[str | None] = mapped_column(String(80))
    impact: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    impact_error: Mapped[str | None] = mapped_column(Text)

    sensor: Mapped[Sensor] = relationship(lazy="joined")


class WarningEvent(IdMixin, Base):
    """The full history of a warning: opened, escalated, lowered, normal, resolved, case requested."""

    __tablename__ = "twin_warning_events"

    warning_id: Mapped[int] = mapped_column(ForeignKey("twin_warnings.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    event: Mapped[str] = mapped_column(String(20))
    level: Mapped[str | None] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(String(300))


class CaseRequest(IdMixin, Base):
    """A warning handed to the case loop; the in-process case bridge writes these (status pending)."""

    __tablename__ = "twin_case_requests"

    warning_id: Mapped[int] = mapped_column(ForeignKey("twin_warnings.id"), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    source: Mapped[str] = mapped_column(String(20), default="sensor")
    source_ref: Mapped[str] = mapped_column(String(80))
    level: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(300))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    impact: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)

    unit: Mapped[Unit] = relationship(lazy="joined")


class Precompute(IdMixin, Base):
    """Results computed once per network version (valve segments, leak sensitivities)."""

    __tablename__ = "twin_precomputes"
    __table_args__ = (UniqueConstraint("network_id", "kind", "sha256"),)

    network_id: Mapped[int] = mapped_column(ForeignKey("twin_networks.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class LeakState(IdMixin, Base):
    """The online leak detector's checkpoint for one water network (see ``leak_online``).

    ``cursor`` is the last 5-minute step the stored ``state`` has taken; a restarted worker restores
    the state and replays the stored readings after the cursor. Detections are written in the same
    transaction as the checkpoint that follows them, so a restart neither loses nor repeats one.
    ``revision`` grows with every checkpoint: a worker whose in-memory detector derives from an older
    revision drops it and restores."""

    __tablename__ = "twin_leak_states"

    network_id: Mapped[int] = mapped_column(
        ForeignKey("twin_networks.id", ondelete="CASCADE"), unique=True, index=True
    )
    sha256: Mapped[str] = mapped_column(String(64))  # model version the state belongs to
    layout_key: Mapped[str] = mapped_column(String(64))  # hash of the sensor layout
    cursor: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state: Mapped[bytes | None] = mapped_column(LargeBinary)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    steps: Mapped[int] = mapped_column(Integer, default=0)  # steps taken since the detector started
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)


class LeakDetection(IdMixin, Base):
    """One report of the online leak detector: the best pipe, the ranked candidates and the evidence
    (sensors and how far they are from the model). The first report of a leak opens a warning
    (cause ``leak``); a later report that moves the leak is added to the same warning."""

    __tablename__ = "twin_leak_detections"
    __table_args__ = (UniqueConstraint("network_id", "leak_key"),)

    network_id: Mapped[int] = mapped_column(ForeignKey("twin_networks.id", ondelete="CASCADE"), index=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("twin_warnings.id"), index=True)
    leak_key: Mapped[str] = mapped_column(String(80))  # model sha · detector leak id · time
    pipe: Mapped[str] = mapped_column(String(120))
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())  # data time of the last reading used
    onset: Mapped[datetime] = mapped_column(UTCDateTime())
    flow: Mapped[float] = mapped_column(Float)  # estimated outflow (m³/h)
    score: Mapped[float] = mapped_column(Float)
    relocated: Mapped[bool] = mapped_column(Boolean, default=False)
    # [{"pipe", "probability"}], best first; [{"sensor", "code", "kind", "observed", "expected", "unit"}]
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


Index("ix_twin_warnings_sensor_status", TwinWarning.sensor_id, TwinWarning.status)
