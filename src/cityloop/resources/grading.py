"""Building grading (产业楼宇分级评价): an indicator system as data, scores, grades, ranking, the
trend between periods and the indicators that drove a change of grade.

Scoring: each indicator earns ``weight × clamp((value − floor) / (target − floor), 0, 1)`` points,
so a value at ``target`` or better earns the whole weight (``target < floor`` means lower is
better). Weights add up to 100; the total's grade is the first grade whose ``min_score`` it reaches.
A missing value earns nothing and is listed, so an incomplete report cannot look complete.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.errors import NotFound, ValidationFailed
from cityloop.resources import service
from cityloop.resources.models import Building, BuildingReport, GradingIndicator, GradingSystem

# The default system, written for this project after the published 渝中区 "楼均论英雄" indicators
# (入驻率, 税收, 营业收入, 特色产业, 统一运营, 能耗) and Changsha's service and contribution
# categories; floors and targets use the ≈1,500 元/m² 楼均税收 benchmark. A district edits it.
DEFAULT_SYSTEM: dict[str, Any] = {
    "code": "default",
    "name": "产业楼宇分级评价(默认)",
    "name_en": "Industrial/office building grading (default)",
    "grades": [
        {"grade": "A", "min_score": 85},
        {"grade": "B", "min_score": 70},
        {"grade": "C", "min_score": 55},
        {"grade": "D", "min_score": 0},
    ],
    "basis": "渝中区楼均论英雄 indicators; 楼均税收 benchmark ≈1,400–1,550 元/m²; weights sum to 100",
    "indicators": [
        # code, name, name_en, unit, weight, floor, target
        ("occupancy_rate", "入驻率", "Occupancy rate", "%", 20, 50, 95),
        ("tax_per_m2", "单位面积税收", "Tax per m²", "元/m²", 25, 200, 1500),
        ("output_per_m2", "单位面积营业收入", "Output per m²", "元/m²", 15, 2000, 20000),
        ("key_industry_share", "重点产业占比", "Share of key industries", "%", 15, 20, 70),
        ("enterprises", "入驻企业数", "Enterprises", "家", 5, 5, 60),
        ("property_service_score", "物业服务评分", "Property-service score", "分", 10, 60, 95),
        ("energy_per_m2", "单位面积能耗", "Energy use per m²", "kWh/m²", 5, 200, 60),
        ("unified_operation", "统一运营", "Unified operation (0/1)", "", 5, 0, 1),
    ],
}


def active_system(session: Session) -> GradingSystem:
    row = session.execute(
        select(GradingSystem).where(GradingSystem.active.is_(True)).order_by(GradingSystem.id).limit(1)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("resources.no_grading_system")
    return row


def _check_system(grades: list[dict[str, Any]], indicators: list[dict[str, Any]]) -> None:
    if not indicators:
        raise ValidationFailed("resources.system_invalid", reason="no indicators")
    codes = [i["code"] for i in indicators]
    if len(set(codes)) != len(codes):
        raise ValidationFailed("resources.system_invalid", reason="indicator codes repeat")
    total = sum(float(i["weight"]) for i in indicators)
    if abs(total - 100) > 1e-6:
        raise ValidationFailed("resources.system_invalid", reason=f"weights add up to {total:g}, not 100")
    for i in indicators:
        if float(i["weight"]) < 0 or float(i["floor"]) == float(i["target"]):
            raise ValidationFailed(
                "resources.system_invalid", reason=f"{i['code']}: weight < 0 or floor = target"
            )
    mins = [float(g["min_score"]) for g in grades]
    if not grades or mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins) or mins[-1] != 0:
        raise ValidationFailed(
            "resources.system_invalid", reason="grade thresholds must fall strictly, the last one at 0"
        )


def save_system(
    session: Session,
    *,
    actor: Any,
    code: str,
    name: str,
    grades: list[dict[str, Any]],
    indicators: list[dict[str, Any]],
    name_en: str | None = None,
    basis: str | None = None,
) -> GradingSystem:
    """Create or replace the active indicator system (the district's 分级评价办法)."""
    _check_system(grades, indicators)
    row = session.execute(select(GradingSystem).where(GradingSystem.code == code)).scalar_one_or_none()
    before = _system_doc(row) if row else None
    if row is None:
        row = GradingSystem(code=code, name=name, grades=grades)
        session.add(row)
    for other in session.execute(select(GradingSystem).where(GradingSystem.code != code)).scalars():
        other.active = False
    row.name, row.name_en, row.basis, row.grades, row.active = name, name_en, basis, grades, True
    row.indicators.clear()
    session.flush()
    for order, ind in enumerate(indicators):
        row.indicators.append(
            GradingIndicator(
                code=ind["code"],
                name=ind["name"],
                name_en=ind.get("name_en") or ind["name"],
                unit_label=ind.get("unit_label", ""),
                weight=float(ind["weight"]),
                floor=float(ind["floor"]),
                target=float(ind["target"]),
                sort_order=order,
            )
        )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update" if before else "create",
        entity_type="grading_system",
        entity_id=row.id,
        before=before,
        after=_system_doc(row),
    )
    return row


def _system_doc(row: GradingSystem) -> dict[str, Any]:
    return {
        "code": row.code,
        "grades": row.grades,
        "indicators": [
            {"code": i.code, "weight": i.weight, "floor": i.floor, "target": i.target} for i in row.indicators
        ],
    }


def load_default_system(session: Session, *, actor: Any) -> GradingSystem:
    d = DEFAULT_SYSTEM
    indicators = [
        dict(zip(("code", "name", "name_en", "unit_label", "weight", "floor", "target"), t, strict=True))
        for t in d["indicators"]
    ]
    return save_system(
        session,
        actor=actor,
        code=d["code"],
        name=d["name"],
        name_en=d["name_en"],
        basis=d["basis"],
        grades=d["grades"],
        indicators=indicators,
    )


@dataclass
class Score:
    total: float
    grade: str
    parts: dict[str, float]  # indicator code -> points earned
    missing: list[str] = field(default_factory=list)


def score(system: GradingSystem, values: dict[str, float]) -> Score:
    parts, missing = {}, []
    for ind in system.indicators:
        value = values.get(ind.code)
        if value is None or not math.isfinite(value):
            parts[ind.code] = 0.0
            missing.append(ind.code)
            continue
        share = (value - ind.floor) / (ind.target - ind.floor)
        parts[ind.code] = round(ind.weight * min(1.0, max(0.0, share)), 2)
    total = round(sum(parts.values()), 2)
    return Score(total, grade_for(system, total), parts, missing)


def grade_for(system: GradingSystem, total: float) -> str:
    for g in system.grades:
        if total >= float(g["min_score"]):
            return str(g["grade"])
    return str(system.grades[-1]["grade"])


@dataclass
class Ranked:
    building: Building
    report: BuildingReport
    score: Score
    rank: int
    previous: Score | None
    previous_period: str | None
    drivers: list[dict[str, Any]]

    @property
    def trend(self) -> str:
        if self.previous is None:
            return "new"
        if self.score.grade != self.previous.grade:
            order = [str(g["grade"]) for g in self.report_system_grades]
            up = order.index(self.score.grade) < order.index(self.previous.grade)
            return "up" if up else "down"
        delta = self.score.total - self.previous.total
        return "up" if delta > 0.5 else "down" if delta < -0.5 else "same"

    report_system_grades: list[dict[str, Any]] = field(default_factory=list)


def drivers(system: GradingSystem, now: Score, before: Score, limit: int = 3) -> list[dict[str, Any]]:
    """The indicators whose points moved most between two periods, biggest move first."""
    names = {i.code: i for i in system.indicators}
    moves: list[dict[str, Any]] = [
        {
            "code": code,
            "name": names[code].name,
            "name_en": names[code].name_en,
            "delta": round(pts - before.parts.get(code, 0.0), 2),
        }
        for code, pts in now.parts.items()
    ]
    moves = [m for m in moves if abs(m["delta"]) >= 0.01]
    return sorted(moves, key=lambda m: -abs(m["delta"]))[:limit]


def ranking(session: Session, *, period: str, principal: Any = None) -> list[Ranked]:
    """Buildings with a report for ``period`` in the caller's scope, ranked by score (rank is the
    district-wide rank, so a street sees where its buildings stand among all)."""
    period = service.check_period(period)
    system = active_system(session)
    current = service.reports(session, period=period)
    earlier = [p for p in service.periods(session) if p < period and len(p) == len(period)]
    prev_period = earlier[0] if earlier else None
    prev = {r.building_id: r for r in service.reports(session, period=prev_period)} if prev_period else {}
    scored = sorted(((r, score(system, r.values)) for r in current), key=lambda x: -x[1].total)
    out = []
    for rank, (report, sc) in enumerate(scored, start=1):
        if principal is not None and not service.in_scope(report.building.unit, principal):
            continue
        before = score(system, prev[report.building_id].values) if report.building_id in prev else None
        out.append(
            Ranked(
                building=report.building,
                report=report,
                score=sc,
                rank=rank,
                previous=before,
                previous_period=prev_period if before else None,
                drivers=drivers(system, sc, before) if before else [],
                report_system_grades=system.grades,
            )
        )
    return out


def history(session: Session, *, building: Building) -> list[tuple[BuildingReport, Score]]:
    system = active_system(session)
    return [(r, score(system, r.values)) for r in service.reports(session, building_id=building.id)]
