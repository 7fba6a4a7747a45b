"""Indicators of the case loop as JSON and as an Excel workbook (``/api/v1/cases/indicators[.xlsx]``).

Included in the app *before* ``cases.api`` so that ``/cases/indicators`` is not read as a case id.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, create_model

from cityloop.cases import indicators as ind
from cityloop.cases.api import ERRORS
from cityloop.cases.indicators_export import to_excel
from cityloop.cases.permissions import CASES_INDICATORS
from cityloop.core.http import DB, CurrentPrincipal, Locale

router = APIRouter(prefix="/api/v1/cases", tags=["cases"], responses=ERRORS)

# Response models (for OpenAPI): one field per count and per rate, in the order of the definitions.
CountsOut = create_model("IndicatorCounts", **{k: (int, ...) for k in ind.COUNT_NAMES})  # type: ignore[call-overload]
RatesOut = create_model(  # type: ignore[call-overload]
    "IndicatorRates", **{k: (float | None, Field(description="0–1; null: no denominator")) for k in ind.RATES}
)


class RowOut(BaseModel):
    key: str | None = Field(description="unit or street/town code; null: not dispatched / not located")
    name: str
    kind: str | None
    counts: CountsOut
    rates: RatesOut


class TrendRowOut(RowOut):
    label: str = Field(description="2026-11, 2026-W47 or 2026-11-28")
    from_: str = Field(alias="from")
    to: str


class FormulaOut(BaseModel):
    numerator: list[str]
    denominator: str


class TrendOut(BaseModel):
    from_: str = Field(alias="from")
    to: str
    trend_bucket: str
    trend: list[TrendRowOut]


class IndicatorsOut(TrendOut):
    period: str
    group_by: str
    date_basis: str = Field(description="the case date that puts a case in the period")
    computed_at: str
    rates: dict[str, FormulaOut]
    rows: list[RowOut]
    total: RowOut


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

PeriodQ = Annotated[
    str, Query(description="day | week | month | custom: the trend's step and the default range")
]
FromQ = Annotated[str | None, Query(alias="from", description="first day, YYYY-MM-DD or YYYY-MM")]
ToQ = Annotated[str | None, Query(description="last day (inclusive), YYYY-MM-DD or YYYY-MM")]
UnitQ = Annotated[str | None, Query(description="only this responsible unit's subtree (code)")]
TrendQ = Annotated[str | None, Query(description="trend step: day | week | month (default: the period)")]


@router.get("/indicators", response_model=IndicatorsOut, response_model_by_alias=True)
def indicators(
    db: DB,
    principal: CurrentPrincipal,
    period: PeriodQ = "month",
    from_: FromQ = None,
    to: ToQ = None,
    unit: UnitQ = None,
    group_by: Annotated[str, Query(description="unit (responsible unit) | street (street/town)")] = "unit",
    trend: TrendQ = None,
) -> dict[str, Any]:
    """按时派遣率, 准确派遣率, 按期处置率, 结案率, 按期结案率, 返工率, 延期率, 满意率 and the 12345 三率
    per group, the total and a trend.

    Cases count in the period in which they were reported; definitions in docs/cases-indicators.md."""
    principal.require(CASES_INDICATORS)
    w = ind.window(period=period, first=from_, last=to)
    res = ind.compute(db, principal=principal, w=w, group_by=group_by, unit=unit, trend_bucket=trend)
    return ind.to_dict(res)


@router.get("/indicators/trend", response_model=TrendOut, response_model_by_alias=True)
def indicators_trend(
    db: DB,
    principal: CurrentPrincipal,
    period: PeriodQ = "month",
    from_: FromQ = None,
    to: ToQ = None,
    unit: UnitQ = None,
    trend: TrendQ = None,
) -> dict[str, Any]:
    """Only the trend (the district's or the caller's subtree's totals per day/week/month): what the
    dashboard's line chart loads after the page, since a year of a busy district is a long scan."""
    principal.require(CASES_INDICATORS)
    w = ind.window(period=period, first=from_, last=to)
    bucket = trend or ("month" if w.period == "custom" else w.period)
    units = ind.scope_units(db, principal, unit)
    rows = ind.trend(db, w=w, units=units, bucket=bucket)
    return {
        "from": w.first.isoformat(),
        "to": w.last.isoformat(),
        "trend_bucket": bucket,
        "trend": ind.trend_dicts(rows),
    }


@router.get("/indicators.xlsx", response_class=Response)
def indicators_xlsx(
    db: DB,
    principal: CurrentPrincipal,
    locale: Locale,
    period: PeriodQ = "month",
    from_: FromQ = None,
    to: ToQ = None,
    unit: UnitQ = None,
    trend: TrendQ = None,
) -> Response:
    """The same figures as a workbook: a sheet per responsible unit and per street/town, the trend, the
    definitions."""
    principal.require(CASES_INDICATORS)
    w = ind.window(period=period, first=from_, last=to)
    results = ind.compute_many(db, principal=principal, w=w, unit=unit, trend_bucket=trend)
    name = f"case-indicators-{w.first.isoformat()}-{w.last.isoformat()}.xlsx"
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"}
    return Response(to_excel(results, locale=locale), media_type=XLSX, headers=headers)
