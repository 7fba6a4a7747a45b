"""Resource operation: idle spaces (闲置空间) and industrial/office buildings (产业楼宇) with their
periodic indicators and the indicator system that grades them (分级评价办法, as data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityloop.core.clock import now
from cityloop.core.db import Base, IdMixin, JSONDoc, UTCDateTime
from cityloop.org.models import Unit


class IdleSpace(IdMixin, Base):
    """An idle space to be put back to use; status moves idle → planned → in_use (see ``states``)."""

    __tablename__ = "idle_spaces"

    name: Mapped[str] = mapped_column(String(200))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    area_m2: Mapped[float] = mapped_column(Float)
    owner: Mapped[str] = mapped_column(String(200))
    condition: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True, default="idle")
    intended_use: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    schematic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Building(IdMixin, Base):
    __tablename__ = "buildings"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="office")
    address: Mapped[str | None] = mapped_column(String(300))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    floor_area_m2: Mapped[float] = mapped_column(Float)
    operator: Mapped[str | None] = mapped_column(String(200))
    schematic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)

    unit: Mapped[Unit] = relationship(lazy="joined")


class GradingSystem(IdMixin, Base):
    """An indicator system: weighted indicators and grade thresholds on the 0–100 total score."""

    __tablename__ = "grading_systems"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    # [{"grade": "A", "min_score": 85}, …] best first; the last grade takes everything below.
    grades: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    basis: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)

    indicators: Mapped[list[GradingIndicator]] = relationship(
        order_by="GradingIndicator.sort_order", lazy="selectin", cascade="all, delete-orphan"
    )


class GradingIndicator(IdMixin, Base):
    """One indicator: its weight, and the values that score 0 (``floor``) and full marks (``target``).

    ``target`` below ``floor`` means lower is better (e.g. energy use per m²).
    """

    __tablename__ = "grading_indicators"
    __table_args__ = (UniqueConstraint("system_id", "code"),)

    system_id: Mapped[int] = mapped_column(ForeignKey("grading_systems.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(160))
    unit_label: Mapped[str] = mapped_column(String(40), default="")
    weight: Mapped[float] = mapped_column(Float)
    floor: Mapped[float] = mapped_column(Float)
    target: Mapped[float] = mapped_column(Float)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class BuildingReport(IdMixin, Base):
    """A building's indicator values for one period ("2026", "2026-Q3" or "2026-09")."""

    __tablename__ = "building_reports"
    __table_args__ = (UniqueConstraint("building_id", "period"),)

    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(10), index=True)
    values: Mapped[dict[str, float]] = mapped_column(JSONDoc)
    source: Mapped[str] = mapped_column(String(120), default="manual")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)

    building: Mapped[Building] = relationship(lazy="joined")
