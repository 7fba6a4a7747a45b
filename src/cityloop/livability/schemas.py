"""What the 15-minute-circle API takes and returns."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cityloop.core.schemas import Out, Patch, Strict, ZonedDatetime


class FacilityTypeOut(Out):
    code: str
    name: str
    name_en: str
    threshold_minutes: float = Field(description="walking minutes of the type's own service standard")
    category: str
    for_elderly: bool
    basis: str | None


class FacilityTypeCreate(Strict):
    code: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")
    name: str = Field(min_length=1, max_length=80)
    name_en: str = Field(min_length=1, max_length=120)
    threshold_minutes: float
    category: Literal["basic", "quality", "feature"] = "basic"
    for_elderly: bool = False
    basis: str | None = Field(default=None, max_length=300)


class FacilityTypeUpdate(Patch):
    name: str | None = Field(default=None, min_length=1, max_length=80)
    name_en: str | None = Field(default=None, min_length=1, max_length=120)
    threshold_minutes: float | None = None
    category: Literal["basic", "quality", "feature"] | None = None
    for_elderly: bool | None = None
    active: bool | None = None


class FacilityOut(Out):
    id: int
    type: str
    name: str
    lon: float
    lat: float
    street_town: str
    address: str | None
    schematic: bool


class FacilityCreate(Strict):
    type: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    lon: float
    lat: float
    address: str | None = Field(default=None, max_length=300)


class AreaOut(Out):
    id: int
    name: str
    lon: float
    lat: float
    population: int
    elderly_population: int
    street_town: str
    schematic: bool


class AreaCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    lon: float
    lat: float
    population: int
    elderly_population: int


class AreaUpdate(Patch):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    population: int | None = None
    elderly_population: int | None = None


class ImportOut(Out):
    imported: int


class NetworkOut(Out):
    id: int
    name: str
    source: str
    node_count: int
    edge_count: int
    length_km: float
    bbox: list[float]
    schematic: bool
    imported_at: ZonedDatetime


class RunCreate(Strict):
    minutes: float | None = Field(default=15.0, description="one threshold for all types; null = per type")
    speed_kmh: float = 4.5


class RunOut(Out):
    id: int
    network_id: int
    speed_kmh: float
    minutes: float | None
    area_count: int
    facility_count: int
    type_codes: list[str]
    seconds: float
    created_at: ZonedDatetime
    created_by: str


class CoverageRow(Out):
    unit: str = Field(description='street/town code, or "*" for everything in the caller\'s scope')
    unit_name: str
    type: str = Field(description='type code, or "_all" for covered by every type')
    areas: int
    areas_covered: int
    population: int
    population_covered: int
    population_share: float | None
    elderly: int
    elderly_covered: int
    elderly_share: float | None


class AccessibilityOut(Out):
    run: RunOut
    coverage: list[CoverageRow]


class ResultOut(Out):
    residential_area_id: int
    residential_area: str
    lon: float
    lat: float
    street_town: str
    population: int
    elderly_population: int
    type: str
    minutes: float | None
    nearest_facility_id: int | None
    nearest_facility: str | None
    threshold_minutes: float
    covered: bool


class SitePlanCreate(Strict):
    type: str = Field(min_length=1, max_length=40)
    k: int
    candidates: Literal["idle-spaces"] | list[tuple[float, float]] = Field(
        default="idle-spaces", description='"idle-spaces" or a list of [lon, lat] points'
    )
    method: Literal["mclp", "pmedian"] = "mclp"
    weight_by: Literal["population", "elderly"] | None = None
    minutes: float = 15.0
    speed_kmh: float = 4.5


class PlanSiteOut(Out):
    id: int
    rank: int
    name: str
    lon: float
    lat: float
    street_town: str
    idle_space_id: int | None
    added_population: int
    added_elderly: int
    task_reference: str | None
    task_url: str | None = None  # the programme task's page, when the task exists


class SitePlanOut(Out):
    id: int
    type: str
    method: str
    weight_by: str
    k: int
    minutes: float
    candidate_source: str
    candidate_count: int
    coverage: dict[str, float]
    seconds: float
    created_at: ZonedDatetime
    created_by: str
    sites: list[PlanSiteOut]


class TaskProposalOut(Out):
    reference: str
    plan_site_id: int
    title: str | None = None
    detail: str | None = None
    action_code: str | None = None
    status: str | None = None
    created_at: ZonedDatetime | None = None
