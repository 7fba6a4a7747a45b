"""The plan of a task (事前计划) as data, and the checks a plan must pass before it is saved:
milestone dates strictly in order inside the task's span, planned progress rising to 100 %, a place
that is a real point, line or area, a responsible person who belongs to the responsible unit."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import shapely
from shapely.geometry import shape

from cityloop.core.errors import ValidationFailed
from cityloop.org.models import Person, Unit, UnitKind

RESPONSIBLE_KINDS = frozenset(
    {
        UnitKind.department,
        UnitKind.street,
        UnitKind.town,
        UnitKind.community,
        UnitKind.special_taskforce,
        UnitKind.utility,
        UnitKind.enforcement_team,
        UnitKind.enforcement_squadron,
    }
)
MAX_INDICATORS = 10  # the first on the task row and up to nine more
PLACE_TYPES = ("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon")


@dataclass
class MilestoneInput:
    name: str
    due_on: date
    planned_pct: float
    deliverable: str | None = None


@dataclass
class IndicatorInput:
    """A further indicator of a task (the first is ``TaskInput.indicator``)."""

    name: str
    unit: str
    baseline: float
    target_value: float


@dataclass
class TaskInput:
    name: str
    indicator: str
    indicator_unit: str
    baseline: float
    target_value: float
    responsible_unit: Unit
    responsible_person: Person
    starts_on: date
    due_on: date
    milestones: list[MilestoneInput]
    code: str | None = None
    target: str | None = None
    place: dict[str, Any] | None = None
    site_plan: str | None = None
    indicators: list[IndicatorInput] = field(default_factory=list)


def check_milestones(
    milestones: list[MilestoneInput], *, starts_on: date, due_on: date, done: int = 0
) -> None:
    """The plan must run forward: dates strictly in order inside the task's span, planned progress
    rising to 100 %. ``done`` milestones at the front are kept as they are."""
    if not milestones:
        raise ValidationFailed("error.programme.milestones_required", field="milestones")
    previous_day, previous_pct = None, 0.0
    for i, ms in enumerate(milestones, start=1):
        if not ms.name.strip():
            raise ValidationFailed("error.programme.milestone_name", field=f"milestones.{i}.name", seq=i)
        if ms.due_on < starts_on or ms.due_on > due_on:
            raise ValidationFailed(
                "error.programme.milestone_outside",
                field=f"milestones.{i}.due_on",
                seq=i,
                start=starts_on.isoformat(),
                end=due_on.isoformat(),
            )
        if previous_day is not None and ms.due_on <= previous_day:
            raise ValidationFailed(
                "error.programme.milestone_order",
                field=f"milestones.{i}.due_on",
                seq=i,
                day=ms.due_on.isoformat(),
                previous=previous_day.isoformat(),
            )
        if not (0 < ms.planned_pct <= 100) or ms.planned_pct < previous_pct:
            raise ValidationFailed(
                "error.programme.milestone_pct", field=f"milestones.{i}.planned_pct", seq=i
            )
        previous_day, previous_pct = ms.due_on, ms.planned_pct
    if previous_pct != 100:
        raise ValidationFailed("error.programme.milestone_last_pct", field=f"milestones.{len(milestones)}")


def check_place(
    place: dict[str, Any] | None,
) -> tuple[dict[str, Any] | None, str | None, float | None, float | None]:
    """A GeoJSON point, line or area in lon/lat; returns it with its kind and a representative point."""
    if place is None:
        return None, None, None, None
    if isinstance(place, dict) and place.get("type") == "Feature":
        place = place.get("geometry")
    if not isinstance(place, dict) or place.get("type") not in PLACE_TYPES:
        raise ValidationFailed("error.programme.place_invalid", field="place")
    try:
        geom = shape(place)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise ValidationFailed("error.programme.place_invalid", field="place") from exc
    minx, miny, maxx, maxy = geom.bounds if not geom.is_empty else (999, 999, 999, 999)
    if geom.is_empty or not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ValidationFailed("error.programme.place_invalid", field="place")
    if geom.geom_type.endswith("LineString"):
        rep = shapely.line_interpolate_point(geom, 0.5, normalized=True)
    else:
        rep = geom.point_on_surface()
    kind = geom.geom_type.replace("Multi", "")
    rounded = dict(shapely.geometry.mapping(shapely.set_precision(geom, 1e-7)))
    return rounded, kind, round(rep.x, 7), round(rep.y, 7)


def check_indicators(first: str, more: list[IndicatorInput]) -> None:
    """Further indicators: named, with a unit, a target different from the baseline, names unique."""
    if len(more) + 1 > MAX_INDICATORS:
        raise ValidationFailed("error.programme.too_many_indicators", field="indicators", max=MAX_INDICATORS)
    seen = {first.strip()}
    for i, ind in enumerate(more, start=2):
        if not ind.name.strip() or not ind.unit.strip():
            raise ValidationFailed("error.required_field", field=f"indicators.{i}.name/unit")
        if len(ind.name.strip()) > 80 or len(ind.unit.strip()) > 20:
            raise ValidationFailed("error.programme.indicator_too_long", field=f"indicators.{i}", seq=i)
        if not (math.isfinite(ind.baseline) and math.isfinite(ind.target_value)):
            raise ValidationFailed("error.programme.number", field=f"indicators.{i}.target_value")
        if ind.baseline == ind.target_value:
            raise ValidationFailed(
                "error.programme.target_equals_baseline", field=f"indicators.{i}.target_value"
            )
        if ind.name.strip() in seen:
            raise ValidationFailed(
                "error.programme.indicator_duplicate", field=f"indicators.{i}.name", name=ind.name.strip()
            )
        seen.add(ind.name.strip())


def check_task(data: TaskInput) -> None:
    if not data.name.strip() or not data.indicator.strip() or not data.indicator_unit.strip():
        raise ValidationFailed("error.required_field", field="name/indicator/indicator_unit")
    if data.baseline == data.target_value:
        raise ValidationFailed("error.programme.target_equals_baseline", field="target_value")
    check_indicators(data.indicator, data.indicators)
    if data.due_on < data.starts_on:
        raise ValidationFailed("error.programme.dates_order", field="due_on")
    if data.responsible_unit.kind not in RESPONSIBLE_KINDS:
        raise ValidationFailed("error.programme.responsible_kind", unit=data.responsible_unit.name)
    unit_path = data.responsible_unit.path
    if not data.responsible_person.unit.path.startswith(unit_path):
        raise ValidationFailed(
            "error.programme.person_not_in_unit",
            field="responsible_person",
            person=data.responsible_person.name,
            unit=data.responsible_unit.name,
        )
    check_milestones(data.milestones, starts_on=data.starts_on, due_on=data.due_on)
