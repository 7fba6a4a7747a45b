"""The 15-minute life-service circle: facility types, facilities, residential areas (小区), the walking
network, accessibility runs, siting plans and task proposals.

Coordinates are WGS84 longitude/latitude degrees. Every located row carries the street/town (or the
district) that contains it, so scope is the usual prefix match on ``Unit.path``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityloop.core.clock import now
from cityloop.core.db import Base, IdMixin, JSONDoc, UTCDateTime
from cityloop.org.models import Unit


class FacilityType(IdMixin, Base):
    """A kind of everyday service with its service walking threshold (data a district edits)."""

    __tablename__ = "facility_types"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(120))
    # Walking minutes within which a home counts as served by this type under its own standard.
    threshold_minutes: Mapped[float] = mapped_column(Float)
    # 基础保障 basic / 品质提升 quality / 特色引导 feature (Chongqing's three classes).
    category: Mapped[str] = mapped_column(String(20), default="basic")
    for_elderly: Mapped[bool] = mapped_column(Boolean, default=False)
    basis: Mapped[str | None] = mapped_column(String(300))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class WalkNetwork(IdMixin, Base):
    """One imported walking network; the arrays are a compressed blob (see ``livability.network``).

    A new import is a new row, so a row never changes and its id is the routing graph's cache key.
    """

    __tablename__ = "walk_networks"

    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(300))
    format_version: Mapped[int] = mapped_column(Integer)
    node_count: Mapped[int] = mapped_column(Integer)
    edge_count: Mapped[int] = mapped_column(Integer)
    length_km: Mapped[float] = mapped_column(Float)
    bbox: Mapped[list[float]] = mapped_column(JSONDoc)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    schematic: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    imported_by: Mapped[str] = mapped_column(String(120))


class Facility(IdMixin, Base):
    __tablename__ = "service_facilities"

    type_id: Mapped[int] = mapped_column(ForeignKey("facility_types.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(300))
    external_id: Mapped[str | None] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(120), default="manual")
    schematic: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)

    type: Mapped[FacilityType] = relationship(lazy="joined")
    unit: Mapped[Unit] = relationship(lazy="joined")


class ResidentialArea(IdMixin, Base):
    """A residential compound (小区) with its residents and elderly residents (60+)."""

    __tablename__ = "residential_areas"

    name: Mapped[str] = mapped_column(String(200))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    population: Mapped[int] = mapped_column(Integer)
    elderly_population: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(120), default="manual")
    schematic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)

    unit: Mapped[Unit] = relationship(lazy="joined")


class AccessRun(IdMixin, Base):
    """One accessibility computation over the whole district (results below)."""

    __tablename__ = "access_runs"

    network_id: Mapped[int] = mapped_column(ForeignKey("walk_networks.id"), index=True)
    speed_kmh: Mapped[float] = mapped_column(Float)
    # One threshold for every type, or NULL when each type's own threshold applied.
    minutes: Mapped[float | None] = mapped_column(Float)
    area_count: Mapped[int] = mapped_column(Integer)
    facility_count: Mapped[int] = mapped_column(Integer)
    type_codes: Mapped[list[str]] = mapped_column(JSONDoc)
    seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, index=True)
    created_by: Mapped[str] = mapped_column(String(120))


class AccessResult(IdMixin, Base):
    __tablename__ = "access_results"
    __table_args__ = (Index("ix_access_results_run_type", "run_id", "type_id"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("access_runs.id", ondelete="CASCADE"))
    residential_area_id: Mapped[int] = mapped_column(
        ForeignKey("residential_areas.id", ondelete="CASCADE"), index=True
    )
    type_id: Mapped[int] = mapped_column(ForeignKey("facility_types.id"))
    # NULL when no facility of the type is reachable over the network.
    minutes: Mapped[float | None] = mapped_column(Float)
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("service_facilities.id", ondelete="SET NULL"))
    threshold_minutes: Mapped[float] = mapped_column(Float)
    covered: Mapped[bool] = mapped_column(Boolean)


class SitePlan(IdMixin, Base):
    """k new sites chosen for a facility type, with coverage before and after."""

    __tablename__ = "site_plans"

    type_id: Mapped[int] = mapped_column(ForeignKey("facility_types.id"), index=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("walk_networks.id"))
    method: Mapped[str] = mapped_column(String(20))
    weight_by: Mapped[str] = mapped_column(String(20))
    k: Mapped[int] = mapped_column(Integer)
    minutes: Mapped[float] = mapped_column(Float)
    speed_kmh: Mapped[float] = mapped_column(Float)
    candidate_source: Mapped[str] = mapped_column(String(300))
    candidate_count: Mapped[int] = mapped_column(Integer)
    coverage: Mapped[dict[str, float]] = mapped_column(JSONDoc)
    seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, index=True)
    created_by: Mapped[str] = mapped_column(String(120))

    type: Mapped[FacilityType] = relationship(lazy="joined")


class PlanSite(IdMixin, Base):
    __tablename__ = "plan_sites"

    plan_id: Mapped[int] = mapped_column(ForeignKey("site_plans.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    idle_space_id: Mapped[int | None] = mapped_column(ForeignKey("idle_spaces.id", ondelete="SET NULL"))
    added_population: Mapped[int] = mapped_column(Integer)
    added_elderly: Mapped[int] = mapped_column(Integer)

    plan: Mapped[SitePlan] = relationship(lazy="joined")
    unit: Mapped[Unit] = relationship(lazy="joined")


class TaskProposal(IdMixin, Base):
    """A one-click request to open a task in the 15-minute-circle action for a chosen site.

    Until the programme domain takes it over (``task_ref``), this row is the proposal's record.
    """

    __tablename__ = "livability_task_proposals"

    plan_site_id: Mapped[int] = mapped_column(ForeignKey("plan_sites.id"), unique=True)
    facility_type_code: Mapped[str] = mapped_column(String(40))
    action_code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(Text)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    task_ref: Mapped[str | None] = mapped_column(String(60))
    created_by: Mapped[str] = mapped_column(String(120))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
