"""Case intelligence in the database: classifier versions, each case's suggested category, the hotspots
the worker finds among cases, and the tasks they propose to the ten actions.

- ``InsightModel``: one row per classifier version (the model file's bytes in ``blob``, or a path);
  exactly one is ``active`` at a time, or none (then intake uses keyword rules from category names).
- ``CaseInsight``: what intake suggested for a case (category, confidence, model version, and whether the
  dispatcher sees it pre-filled or the case waits for manual triage). Derived data, one row per case.
- ``InsightHotspot``: the latest hotspot ranking, replaced as a whole by the worker job.
- ``InsightProposal``: "一点一策 at this place" proposed to an action; accepted (a programme task) or
  dismissed by the task force. One per (action, place), so refreshes never repeat a dismissed one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityloop.core.clock import now
from cityloop.core.db import Base, IdMixin, JSONDoc, UTCDateTime
from cityloop.programme.models import Action


class InsightModel(IdMixin, Base):
    __tablename__ = "insight_models"

    version: Mapped[int] = mapped_column(Integer, unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # linear | keywords
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    source: Mapped[str] = mapped_column(String(300))  # "db:closed-cases", "csv:FILE", "file:PATH"
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    classes: Mapped[list[str]] = mapped_column(JSONDoc)
    active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    file_path: Mapped[str | None] = mapped_column(String(500))
    blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_by: Mapped[str | None] = mapped_column(String(120))
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CaseInsight(IdMixin, Base):
    __tablename__ = "case_insights"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    suggested_code: Mapped[str | None] = mapped_column(String(60))  # a case category code, None = no idea
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    model_version: Mapped[int] = mapped_column(Integer, default=0)  # 0 = keyword rules
    triage: Mapped[str] = mapped_column(String(12), index=True)  # prefilled | manual
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InsightHotspot(IdMixin, Base):
    __tablename__ = "insight_hotspots"

    key: Mapped[str] = mapped_column(String(40), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    heat: Mapped[float] = mapped_column(Float)
    place: Mapped[str] = mapped_column(String(200), default="")
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    located_by: Mapped[str | None] = mapped_column(String(20))  # cases | gazetteer kind | None
    category_id: Mapped[int | None] = mapped_column(ForeignKey("case_categories.id"))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    reports: Mapped[int] = mapped_column(Integer)
    days: Mapped[int] = mapped_column(Integer)
    support: Mapped[int] = mapped_column(Integer, default=0)
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    members: Mapped[list[int]] = mapped_column(JSONDoc)  # case ids
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InsightProposal(IdMixin, Base):
    __tablename__ = "insight_proposals"
    __table_args__ = (UniqueConstraint("action_id", "place_key", name="uq_insight_proposals_action_place"),)

    action_id: Mapped[int] = mapped_column(ForeignKey("programme_actions.id"), index=True)
    place_key: Mapped[str] = mapped_column(String(200))  # normalised place name (or an H3 cell)
    place: Mapped[str] = mapped_column(String(200))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    category_ids: Mapped[list[int]] = mapped_column(JSONDoc)
    hotspot_key: Mapped[str] = mapped_column(String(40))
    heat: Mapped[float] = mapped_column(Float)
    reports: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(
        String(12), default="proposed", index=True
    )  # proposed|accepted|dismissed
    task_id: Mapped[int | None] = mapped_column(ForeignKey("programme_tasks.id"), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    action: Mapped[Action] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
