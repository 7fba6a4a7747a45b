"""JSON API for idle spaces and industrial/office buildings under /api/v1/resources/."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import Response

from cityloop.core.errors import TooLarge
from cityloop.core.http import DB, CurrentPrincipal
from cityloop.core.schemas import API_ERRORS
from cityloop.core.validation import Id
from cityloop.resources import excel, grading, service
from cityloop.resources.models import Building, GradingSystem, IdleSpace
from cityloop.resources.permissions import GRADING_WRITE, RESOURCES_READ, RESOURCES_WRITE
from cityloop.resources.schemas import (
    BuildingCreate,
    BuildingDetailOut,
    BuildingOut,
    Driver,
    GradingSystemIn,
    GradingSystemOut,
    IdleSpaceCreate,
    IdleSpaceOut,
    IdleSpaceUpdate,
    ImportCounts,
    IndicatorIn,
    RankedOut,
    ReportIn,
    ScoreOut,
    TransitionIn,
)

ERRORS = API_ERRORS  # one map for every router (core.schemas)
router = APIRouter(prefix="/api/v1/resources", tags=["resources"], responses=ERRORS)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_UPLOAD = 10 * 1_048_576


def idle_out(r: IdleSpace) -> IdleSpaceOut:
    return IdleSpaceOut.model_validate({**r.__dict__, "street_town": r.unit.name})


def building_out(b: Building) -> BuildingOut:
    return BuildingOut.model_validate({**b.__dict__, "street_town": b.unit.name})


def system_out(s: GradingSystem) -> GradingSystemOut:
    return GradingSystemOut(
        code=s.code,
        name=s.name,
        name_en=s.name_en,
        basis=s.basis,
        grades=s.grades,
        indicators=[
            IndicatorIn(
                code=i.code,
                name=i.name,
                name_en=i.name_en,
                unit_label=i.unit_label,
                weight=i.weight,
                floor=i.floor,
                target=i.target,
            )
            for i in s.indicators
        ],
    )


# --- idle spaces ---------------------------------------------------------------------------------


@router.get("/idle-spaces", response_model=list[IdleSpaceOut])
def list_idle(db: DB, principal: CurrentPrincipal, status: str | None = None) -> list[IdleSpaceOut]:
    principal.require(RESOURCES_READ)
    return [idle_out(r) for r in service.list_idle_spaces(db, principal=principal, status=status)]


@router.post("/idle-spaces", response_model=IdleSpaceOut, status_code=201)
def create_idle(body: IdleSpaceCreate, db: DB, principal: CurrentPrincipal) -> IdleSpaceOut:
    principal.require(RESOURCES_WRITE)
    row = service.create_idle_space(db, actor=principal, principal=principal, **body.model_dump())
    db.commit()
    return idle_out(row)


@router.get("/idle-spaces/{space_id}", response_model=IdleSpaceOut)
def get_idle(space_id: Id, db: DB, principal: CurrentPrincipal) -> IdleSpaceOut:
    principal.require(RESOURCES_READ)
    return idle_out(service.get_idle_space(db, space_id=space_id, principal=principal))


@router.patch("/idle-spaces/{space_id}", response_model=IdleSpaceOut)
def update_idle(space_id: Id, body: IdleSpaceUpdate, db: DB, principal: CurrentPrincipal) -> IdleSpaceOut:
    principal.require(RESOURCES_READ)
    row = service.get_idle_space(db, space_id=space_id, principal=principal)
    principal.require(RESOURCES_WRITE)
    service.update_idle_space(
        db,
        actor=principal,
        row=row,
        expected_version=body.version,
        **body.model_dump(exclude_unset=True, exclude={"version"}),
    )
    db.commit()
    return idle_out(row)


@router.delete("/idle-spaces/{space_id}", status_code=204)
def delete_idle(space_id: Id, db: DB, principal: CurrentPrincipal) -> None:
    principal.require(RESOURCES_READ)
    row = service.get_idle_space(db, space_id=space_id, principal=principal)
    principal.require(RESOURCES_WRITE)
    service.delete_idle_space(db, actor=principal, row=row)
    db.commit()


@router.post("/idle-spaces/{space_id}/transitions", response_model=IdleSpaceOut)
def transition_idle(space_id: Id, body: TransitionIn, db: DB, principal: CurrentPrincipal) -> IdleSpaceOut:
    """Move an idle space along idle → planned → in use (or back: drop_plan, vacate)."""
    principal.require(RESOURCES_READ)
    row = service.get_idle_space(db, space_id=space_id, principal=principal)
    principal.require(RESOURCES_WRITE)
    service.change_idle_status(db, actor=principal, principal=principal, row=row, action=body.action)
    db.commit()
    return idle_out(row)


# --- buildings and grading --------------------------------------------------------------------------


@router.get("/buildings", response_model=list[BuildingOut])
def list_buildings(db: DB, principal: CurrentPrincipal) -> list[BuildingOut]:
    principal.require(RESOURCES_READ)
    return [building_out(b) for b in service.list_buildings(db, principal=principal)]


@router.post("/buildings", response_model=BuildingOut, status_code=201)
def create_building(body: BuildingCreate, db: DB, principal: CurrentPrincipal) -> BuildingOut:
    principal.require(RESOURCES_WRITE)
    row = service.create_building(db, actor=principal, principal=principal, **body.model_dump())
    db.commit()
    return building_out(row)


@router.get("/buildings/template.xlsx")
def template(db: DB, principal: CurrentPrincipal) -> Response:
    principal.require(RESOURCES_READ)
    return Response(
        excel.template(db),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="buildings-template.xlsx"'},
    )


@router.post("/buildings/import", response_model=ImportCounts)
async def import_buildings(
    db: DB, principal: CurrentPrincipal, file: Annotated[UploadFile, File(description=".xlsx")]
) -> ImportCounts:
    principal.require(RESOURCES_WRITE)
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise TooLarge("error.too_large", limit=MAX_UPLOAD)
    counts = excel.import_workbook(
        db, actor=principal, principal=principal, data=data, filename=file.filename or "upload.xlsx"
    )
    db.commit()
    return ImportCounts(**counts)


@router.get("/buildings/{code}", response_model=BuildingDetailOut)
def get_building(code: str, db: DB, principal: CurrentPrincipal) -> BuildingDetailOut:
    principal.require(RESOURCES_READ)
    b = service.get_building(db, code=code, principal=principal)
    history = [
        ScoreOut(
            period=r.period, total=s.total, grade=s.grade, parts=s.parts, missing=s.missing, values=r.values
        )
        for r, s in grading.history(db, building=b)
    ]
    return BuildingDetailOut(**building_out(b).model_dump(), history=history)


@router.put("/buildings/{code}/reports/{period}", response_model=ScoreOut)
def put_report(code: str, period: str, body: ReportIn, db: DB, principal: CurrentPrincipal) -> ScoreOut:
    principal.require(RESOURCES_READ)
    b = service.get_building(db, code=code, principal=principal)
    principal.require(RESOURCES_WRITE)
    system = grading.active_system(db)
    unknown = set(body.values) - {i.code for i in system.indicators}
    if unknown:
        from cityloop.core.errors import ValidationFailed

        raise ValidationFailed("resources.value_invalid", indicator=", ".join(sorted(unknown)), value="?")
    row = service.put_report(db, actor=principal, building=b, period=period, values=body.values, source="api")
    db.commit()
    s = grading.score(system, row.values)
    return ScoreOut(
        period=row.period, total=s.total, grade=s.grade, parts=s.parts, missing=s.missing, values=row.values
    )


@router.get("/grading", response_model=list[RankedOut])
def ranking(period: str, db: DB, principal: CurrentPrincipal) -> list[RankedOut]:
    """Buildings of the period in the caller's scope with district-wide rank, grade, trend, drivers."""
    principal.require(RESOURCES_READ)
    return [
        RankedOut(
            rank=r.rank,
            building=building_out(r.building),
            total=r.score.total,
            grade=r.score.grade,
            previous_period=r.previous_period,
            previous_grade=r.previous.grade if r.previous else None,
            trend=r.trend,
            drivers=[Driver(**d) for d in r.drivers],
            missing=r.score.missing,
        )
        for r in grading.ranking(db, period=period, principal=principal)
    ]


@router.get("/grading/export.xlsx")
def export(period: str, db: DB, principal: CurrentPrincipal) -> Response:
    principal.require(RESOURCES_READ)
    period = service.check_period(period)  # it names the sheet and the file
    data = excel.export_ranking(db, period=period, principal=principal)
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="grading-{period}.xlsx"'},
    )


@router.get("/grading-system", response_model=GradingSystemOut)
def get_system(db: DB, principal: CurrentPrincipal) -> GradingSystemOut:
    principal.require(RESOURCES_READ)
    return system_out(grading.active_system(db))


@router.put("/grading-system", response_model=GradingSystemOut)
def put_system(body: GradingSystemIn, db: DB, principal: CurrentPrincipal) -> GradingSystemOut:
    """Replace the indicator system (weights, floors/targets, grade thresholds): the 分级评价办法."""
    principal.require(GRADING_WRITE)
    row = grading.save_system(
        db,
        actor=principal,
        code=body.code,
        name=body.name,
        name_en=body.name_en,
        basis=body.basis,
        grades=[g.model_dump() for g in body.grades],
        indicators=[i.model_dump() for i in body.indicators],
    )
    db.commit()
    return system_out(row)
