"""JSON API for the programme's overviews: battle map, evaluation, ledgers, weekly report, scan."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import Response

from cityloop.core.clock import isoformat
from cityloop.core.http import DB, CurrentPrincipal, Locale
from cityloop.core.validation import Finite, Int
from cityloop.programme import battlemap, evaluation, ledger, reports, service, supervision
from cityloop.programme import permissions as perm
from cityloop.programme.api import ERRORS, task_query
from cityloop.programme.schemas import ImportOut, ScanOut
from cityloop.programme.workflow import today

router = APIRouter(prefix="/api/v1/programme", tags=["programme"], responses=ERRORS)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def compact(data: Any) -> Response:
    """JSON without spaces or a response model: the map payload is large and flat."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return Response(body, media_type="application/json")


def xlsx(content: bytes, filename: str) -> Response:
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}
    return Response(content, media_type=XLSX, headers=headers)


@router.get("/map")
def map_data(
    db: DB,
    principal: CurrentPrincipal,
    programme: str | None = None,
    action: str | None = None,
    unit: str | None = None,
    status: str | None = None,
    shapes: bool = Query(True, description="include line and area geometry"),
    bbox: str | None = Query(None, description="west,south,east,north in degrees: only this view"),
    cell: Annotated[Finite | None, Query(description="cluster cell size in degrees")] = None,
    max_points: Annotated[
        Int | None, Query(ge=1, le=50000, description="above this, clusters (default 3000)")
    ] = None,
) -> Response:
    """Tasks with a place under the filters, column by column; clusters when there are too many."""
    query = task_query(db, principal, programme=programme, action=action, unit=unit, status=status)
    view = battlemap.Viewport.parse(bbox, cell, max_points)
    return compact(battlemap.map_data(db, principal=principal, query=query, shapes=shapes, view=view))


@router.get("/map/legend")
def map_legend(db: DB, principal: CurrentPrincipal, programme: str | None = None) -> Response:
    principal.require(perm.READ)
    prog = service.get_programme(db, ref=programme)
    return compact(battlemap.legend(db, programme=prog, principal=principal))


@router.get("/map/timeline")
def map_timeline(
    db: DB,
    principal: CurrentPrincipal,
    programme: str | None = None,
    action: str | None = None,
    unit: str | None = None,
    status: str | None = None,
    limit: Annotated[Int, Query(ge=1, le=500)] = 60,
) -> Response:
    """The Gantt rows: the most urgent tasks (red first) under the filters, with milestones."""
    query = task_query(db, principal, programme=programme, action=action, unit=unit, status=status)
    return compact(battlemap.timeline(db, principal=principal, query=query, limit=limit))


@router.get("/stats")
def stats(
    db: DB,
    principal: CurrentPrincipal,
    programme: str | None = None,
    action: str | None = None,
    unit: str | None = None,
    status: str | None = None,
) -> Response:
    """Per action: tasks by colour and mean progress; milestones planned and done per month."""
    query = task_query(db, principal, programme=programme, action=action, unit=unit, status=status)
    prog = service.get_programme(db, ref=programme)
    return compact(battlemap.stats(db, principal=principal, query=query, programme=prog))


@router.get("/evaluation")
def get_evaluation(
    db: DB,
    principal: CurrentPrincipal,
    programme: str | None = None,
    month: str | None = Query(None, description="YYYY-MM; default: this month so far"),
    fresh: bool = Query(False, description="count live instead of reading the worker's snapshot"),
) -> Response:
    """Scores per action, department and street/town (the 红黑榜 is published to every unit)."""
    principal.require(perm.READ)
    prog = service.get_programme(db, ref=programme)
    result = evaluation.evaluate(db, programme=prog, month=month, today=today(), fresh=fresh)
    return compact(
        {
            "programme": prog.code,
            "month": result.month,
            "as_of": result.as_of.isoformat(),
            "computed_at": isoformat(result.computed_at),
            "weights": result.weights,
            "levels": {level: [s.as_dict() for s in rows] for level, rows in result.levels.items()},
            "red_list": {lv: [s.as_dict() for s in result.red_list(lv)] for lv in ("department", "street")},
            "black_list": {
                lv: [s.as_dict() for s in result.black_list(lv)] for lv in ("department", "street")
            },
        }
    )


@router.get("/evaluation.xlsx")
def evaluation_xlsx(
    db: DB,
    principal: CurrentPrincipal,
    locale: Locale,
    programme: str | None = None,
    month: str | None = None,
) -> Response:
    principal.require(perm.READ)
    prog = service.get_programme(db, ref=programme)
    result = evaluation.evaluate(db, programme=prog, month=month, today=today())
    return xlsx(evaluation.to_excel(result, locale=locale), f"evaluation-{prog.code}-{result.month}.xlsx")


@router.get("/ledger/template.xlsx")
def ledger_template(
    db: DB, principal: CurrentPrincipal, locale: Locale, programme: str | None = None
) -> Response:
    principal.require(perm.READ)
    prog = service.get_programme(db, ref=programme)
    return xlsx(ledger.template(db, programme=prog, locale=locale), f"ledger-template-{prog.code}.xlsx")


@router.get("/ledger.xlsx")
def ledger_export(
    db: DB, principal: CurrentPrincipal, locale: Locale, programme: str | None = None
) -> Response:
    """The task ledger as the caller sees it (same columns as the template, plus status)."""
    principal.require(perm.READ)
    prog = service.get_programme(db, ref=programme)
    return xlsx(
        ledger.export(db, principal=principal, programme=prog, locale=locale), f"ledger-{prog.code}.xlsx"
    )


@router.post("/ledger/import", response_model=ImportOut, status_code=201)
async def ledger_import(
    db: DB,
    principal: CurrentPrincipal,
    locale: Locale,
    file: Annotated[UploadFile, File()],
    programme: str | None = None,
) -> ImportOut:
    """All or nothing: any wrong row and nothing is imported; 422 lists every error by sheet, row
    and column in ``error.details.errors``."""
    principal.require(perm.PLAN)
    content = await file.read()
    prog = service.get_programme(db, ref=programme)
    counts = ledger.import_ledger(db, principal=principal, programme=prog, content=content, locale=locale)
    db.commit()
    return ImportOut(**counts)


@router.get("/reports/weekly")
def weekly_report(
    db: DB,
    principal: CurrentPrincipal,
    programme: str | None = None,
    week: str | None = Query(None, description="ISO week, e.g. 2026-W48; default: this week"),
) -> Response:
    prog = service.get_programme(db, ref=programme)
    result = reports.weekly(db, principal=principal, programme=prog, week=week, today=today())
    return compact(result.as_dict())


@router.post("/supervision/scan", response_model=ScanOut)
def run_scan(db: DB, principal: CurrentPrincipal) -> ScanOut:
    """Run the supervision scan now (the worker runs it on its own schedule too)."""
    principal.require(perm.SUPERVISE)
    result = supervision.scan(db, actor=_actor(principal))
    db.commit()
    return ScanOut(**result.as_dict())


def _actor(principal: Any) -> Any:
    from cityloop.core.audit import Actor

    return Actor(f"supervision:{principal.username}", principal.user_id)
