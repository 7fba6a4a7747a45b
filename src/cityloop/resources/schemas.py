"""What the resources API takes and returns."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cityloop.core.schemas import Out, Patch, Strict, ZonedDatetime


class IdleSpaceOut(Out):
    id: int
    name: str
    lon: float
    lat: float
    street_town: str
    area_m2: float
    owner: str
    condition: str
    status: str
    intended_use: str | None
    note: str | None
    schematic: bool
    version: int
    updated_at: ZonedDatetime


class IdleSpaceCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    lon: float
    lat: float
    area_m2: float
    owner: str = Field(min_length=1, max_length=200)
    condition: Literal["good", "fair", "poor"]
    intended_use: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=2000)


class IdleSpaceUpdate(Patch):
    clearable = frozenset({"intended_use", "note"})  # null clears these; any other null is a 422
    version: int = Field(description="the version you read; a stale one gets 409")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    area_m2: float | None = None
    owner: str | None = Field(default=None, min_length=1, max_length=200)
    condition: Literal["good", "fair", "poor"] | None = None
    intended_use: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=2000)


class TransitionIn(Strict):
    action: Literal["plan", "start_use", "drop_plan", "vacate"]


class BuildingOut(Out):
    id: int
    code: str
    name: str
    kind: str
    address: str | None
    lon: float
    lat: float
    street_town: str
    floor_area_m2: float
    operator: str | None
    schematic: bool


class BuildingCreate(Strict):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    lon: float
    lat: float
    floor_area_m2: float
    kind: Literal["office", "industrial", "mixed"] = "office"
    address: str | None = Field(default=None, max_length=300)
    operator: str | None = Field(default=None, max_length=200)


class ReportIn(Strict):
    values: dict[str, float]


class ScoreOut(Out):
    period: str
    total: float
    grade: str
    parts: dict[str, float]
    missing: list[str]
    values: dict[str, float]


class BuildingDetailOut(BuildingOut):
    history: list[ScoreOut]


class Driver(Out):
    code: str
    name: str
    name_en: str
    delta: float


class RankedOut(Out):
    rank: int
    building: BuildingOut
    total: float
    grade: str
    previous_period: str | None
    previous_grade: str | None
    trend: str = Field(description="up, down, same or new")
    drivers: list[Driver]
    missing: list[str]


class IndicatorIn(Strict):
    code: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")
    name: str = Field(min_length=1, max_length=120)
    name_en: str | None = Field(default=None, max_length=160)
    unit_label: str = Field(default="", max_length=40)
    weight: float
    floor: float
    target: float


class GradeIn(Strict):
    grade: str = Field(min_length=1, max_length=20)
    min_score: float


class GradingSystemIn(Strict):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    basis: str | None = Field(default=None, max_length=2000)
    grades: list[GradeIn]
    indicators: list[IndicatorIn]


class GradingSystemOut(Out):
    code: str
    name: str
    name_en: str | None
    basis: str | None
    grades: list[GradeIn]
    indicators: list[IndicatorIn]


class ImportCounts(Out):
    buildings: int
    reports: int
