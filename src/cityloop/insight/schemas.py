"""Request and response bodies of the case-intelligence API."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from cityloop.core.schemas import Out, Strict, ZonedDatetime


class SuggestionOut(Out):
    case_id: int
    tracking_no: str
    reported_category: str
    suggested_category: str | None
    confidence: float
    model_version: int  # 0 = keyword rules
    triage: str  # prefilled | manual
    prefill: bool
    threshold: float


class ModelOut(Out):
    version: int
    kind: str
    trained_at: ZonedDatetime
    source: str
    metrics: dict[str, Any] | None
    classes: list[str]
    active: bool
    activated_at: ZonedDatetime | None
    created_by: str | None


class ModelsOut(Out):
    active_version: int  # 0 = keyword rules from category names
    threshold: float
    models: list[ModelOut]


class ActivateIn(Strict):
    version: int = Field(ge=0)


class RetrainIn(Strict):
    activate: bool = False


class HotspotOut(Out):
    id: int
    key: str
    rank: int
    heat: float
    place: str
    lon: float | None
    lat: float | None
    located_by: str | None
    category: str | None
    street_id: int | None
    summary: str
    reports: int
    days: int
    support: int
    start: ZonedDatetime
    end: ZonedDatetime
    members: list[int]
    refreshed_at: ZonedDatetime


class ProposalOut(Out):
    id: int
    action_code: str
    action_name: str
    place: str
    lon: float | None
    lat: float | None
    heat: float
    reports: int
    summary: str
    state: str
    task_id: int | None
    reason: str | None
    decided_by: str | None
    decided_at: ZonedDatetime | None
    version: int


class AcceptIn(Strict):
    version: int
    responsible_unit: str | None = None
    responsible_person_id: int | None = None
    due_on: date | None = None
    name: str | None = Field(default=None, max_length=200)


class DismissIn(Strict):
    version: int
    reason: str = Field(min_length=1, max_length=2000)


class WeekOut(Out):
    week_start: date
    side: str
    count: int | None


class BeforeAfterOut(Out):
    task_id: int
    task_code: str
    pivot: ZonedDatetime
    pivot_basis: str
    radius_m: float
    categories: list[str]
    weeks: list[WeekOut]
    before_total: int
    after_total: int
    before_per_week: float
    after_weeks: int
    after_per_week: float | None
