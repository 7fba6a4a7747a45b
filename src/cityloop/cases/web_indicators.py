"""The supervisor's dashboard of case indicators at ``/cases/indicators``: period picker, charts, a table
and the Excel download."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cityloop.cases import indicators as ind
from cityloop.cases.indicators_export import row_name
from cityloop.cases.permissions import CASES_INDICATORS
from cityloop.core.errors import AppError
from cityloop.core.http import DB, request_locale
from cityloop.core.i18n import translate
from cityloop.web.pages import PageUser, render, render_error_page

router = APIRouter(include_in_schema=False)


def chart_data(res: ind.Result, trend_url: str, locale: str) -> dict[str, Any]:
    """What the page's script draws: one bar series per indicator over the groups (percentages, None where
    a denominator is 0); the monthly lines come from ``trend_url`` after the page has loaded."""

    def pct(v: float | None) -> float | None:
        return round(v * 100, 1) if v is not None else None

    rates = list(ind.RATES)
    return {
        "indicators": [translate(f"cases.indicators.rate.{k}", locale) for k in rates],
        "groups": [row_name(r, locale, res.group_by) for r in res.rows],
        "bars": [[pct(r.rates[k]) for r in res.rows] for k in rates],
        "rates": rates,
        "trend_url": trend_url,
    }


@router.get("/cases/indicators", response_class=HTMLResponse)
def indicators_page(
    request: Request,
    me: PageUser,
    db: DB,
    period: str = "month",
    group_by: str = "unit",
    unit: str | None = None,
) -> HTMLResponse:
    locale = request_locale(request)
    first, last = request.query_params.get("from"), request.query_params.get("to")
    try:
        me.require(CASES_INDICATORS)
        w = ind.window(period=period, first=first, last=last)
        res = ind.compute(db, principal=me, w=w, group_by=group_by, unit=unit or None, with_trend=False)
        months = ind.months_back(w.last)
    except AppError as exc:
        return render_error_page(request, exc.status_code, exc.message(locale))
    query = {"period": period, "from": w.first.isoformat(), "to": w.last.isoformat()}
    trend_query = {"period": "month", "from": months.first.isoformat(), "to": months.last.isoformat()}
    if unit:
        query["unit"] = trend_query["unit"] = unit
    trend_url = "/api/v1/cases/indicators/trend?" + urlencode(trend_query)
    return render(
        request,
        "cases/indicators.html",
        res=res,
        w=w,
        unit=unit or "",
        rates=list(ind.RATES),
        counts=ind.COUNT_NAMES,
        periods=ind.PERIODS,
        groups=ind.GROUPS,
        row_name=lambda r: row_name(r, locale, res.group_by),
        xlsx_url="/api/v1/cases/indicators.xlsx?" + urlencode(query),
        chart=chart_data(res, trend_url, locale),  # |tojson in the template: safe inside <script>
    )
