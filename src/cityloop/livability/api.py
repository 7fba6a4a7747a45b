"""JSON API for the 15-minute life-service circle under /api/v1/livability/."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import PlainTextResponse
from sqlalchemy import select

from cityloop.core.errors import NotFound, TooLarge
from cityloop.core.http import DB, CurrentPrincipal
from cityloop.core.permissions import Principal
from cityloop.core.schemas import API_ERRORS
from cityloop.core.validation import Id
from cityloop.livability import accessibility, service, siting, task_bridge
from cityloop.livability.models import Facility, PlanSite, ResidentialArea, SitePlan, TaskProposal
from cityloop.livability.permissions import (
    LIVABILITY_ANALYSE,
    LIVABILITY_PUBLIC,
    LIVABILITY_READ,
    LIVABILITY_TYPES,
    LIVABILITY_WRITE,
    require_plans,
    require_propose,
    view_of,
)
from cityloop.livability.schemas import (
    AccessibilityOut,
    AreaCreate,
    AreaOut,
    AreaUpdate,
    CoverageRow,
    FacilityCreate,
    FacilityOut,
    FacilityTypeCreate,
    FacilityTypeOut,
    FacilityTypeUpdate,
    ImportOut,
    NetworkOut,
    PlanSiteOut,
    ResultOut,
    RunCreate,
    RunOut,
    SitePlanCreate,
    SitePlanOut,
    TaskProposalOut,
)

ERRORS = API_ERRORS  # one map for every router (core.schemas)
router = APIRouter(prefix="/api/v1/livability", tags=["livability"], responses=ERRORS)
MAX_UPLOAD = 20 * 1_048_576


def facility_out(f: Facility) -> FacilityOut:
    return FacilityOut(
        id=f.id,
        type=f.type.code,
        name=f.name,
        lon=f.lon,
        lat=f.lat,
        street_town=f.unit.name,
        address=f.address,
        schematic=f.schematic,
    )


def area_out(a: ResidentialArea) -> AreaOut:
    return AreaOut(
        id=a.id,
        name=a.name,
        lon=a.lon,
        lat=a.lat,
        population=a.population,
        elderly_population=a.elderly_population,
        street_town=a.unit.name,
        schematic=a.schematic,
    )


async def _read(upload: UploadFile) -> bytes:
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise TooLarge("error.too_large", limit=MAX_UPLOAD)
    return data


# --- types and facilities -------------------------------------------------------------------------


@router.get("/types", response_model=list[FacilityTypeOut])
def list_types(db: DB, principal: CurrentPrincipal) -> list[FacilityTypeOut]:
    principal.require(LIVABILITY_PUBLIC)
    return [FacilityTypeOut.model_validate(t) for t in service.list_types(db)]


@router.post("/types", response_model=FacilityTypeOut, status_code=201)
def create_type(body: FacilityTypeCreate, db: DB, principal: CurrentPrincipal) -> FacilityTypeOut:
    principal.require(LIVABILITY_TYPES)
    row = service.create_type(db, actor=principal, **body.model_dump())
    db.commit()
    return FacilityTypeOut.model_validate(row)


@router.patch("/types/{code}", response_model=FacilityTypeOut)
def update_type(code: str, body: FacilityTypeUpdate, db: DB, principal: CurrentPrincipal) -> FacilityTypeOut:
    principal.require(LIVABILITY_TYPES)
    row = service.get_type(db, code=code)
    service.update_type(db, actor=principal, row=row, **body.model_dump(exclude_unset=True))
    db.commit()
    return FacilityTypeOut.model_validate(row)


@router.get("/facilities", response_model=list[FacilityOut])
def list_facilities(db: DB, principal: CurrentPrincipal, type: str | None = None) -> list[FacilityOut]:
    """Every facility: a public directory, the same for every signed-in account."""
    principal.require(LIVABILITY_PUBLIC)
    return [facility_out(f) for f in service.list_facilities(db, type_code=type)]


@router.post("/facilities", response_model=FacilityOut, status_code=201)
def create_facility(body: FacilityCreate, db: DB, principal: CurrentPrincipal) -> FacilityOut:
    principal.require(LIVABILITY_WRITE)
    row = service.create_facility(
        db,
        actor=principal,
        principal=principal,
        type_code=body.type,
        name=body.name,
        lon=body.lon,
        lat=body.lat,
        address=body.address,
    )
    db.commit()
    return facility_out(row)


@router.delete("/facilities/{facility_id}", status_code=204)
def retire_facility(facility_id: Id, db: DB, principal: CurrentPrincipal) -> None:
    principal.require(LIVABILITY_WRITE)
    row = service.get_facility(db, facility_id=facility_id, principal=principal)
    service.retire_facility(db, actor=principal, row=row)
    db.commit()


@router.post("/facilities/import", response_model=ImportOut)
async def import_facilities(
    db: DB,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="GeoJSON or CSV of points")],
    type: Annotated[str | None, Form(description="every row is of this type")] = None,
    type_field: Annotated[str, Form()] = "type",
    type_map: Annotated[str | None, Form(description="SOURCE=CODE,…")] = None,
    crs: Annotated[str, Form()] = "wgs84",
    replace: Annotated[bool, Form()] = False,
) -> ImportOut:
    principal.require(LIVABILITY_WRITE)
    mapping = dict(p.split("=", 1) for p in (type_map or "").split(",") if "=" in p)
    count = service.import_facilities(
        db,
        actor=principal,
        principal=principal,
        data=await _read(file),
        filename=file.filename or "upload",
        fixed_type=type or None,
        type_field=type_field,
        type_map={k.strip(): v.strip() for k, v in mapping.items()},
        crs=crs,
        replace=replace,
    )
    db.commit()
    return ImportOut(imported=count)


# --- residential areas ---------------------------------------------------------------------------------


@router.get("/residential-areas", response_model=list[AreaOut])
def list_areas(db: DB, principal: CurrentPrincipal) -> list[AreaOut]:
    principal.require(LIVABILITY_READ)
    view = view_of(db, principal)
    return [area_out(a) for a in service.list_residential_areas(db, principal=view)]


@router.post("/residential-areas", response_model=AreaOut, status_code=201)
def create_area(body: AreaCreate, db: DB, principal: CurrentPrincipal) -> AreaOut:
    principal.require(LIVABILITY_WRITE)
    row = service.create_residential_area(db, actor=principal, principal=principal, **body.model_dump())
    db.commit()
    return area_out(row)


@router.patch("/residential-areas/{area_id}", response_model=AreaOut)
def update_area(area_id: Id, body: AreaUpdate, db: DB, principal: CurrentPrincipal) -> AreaOut:
    principal.require(LIVABILITY_READ)
    row = service.get_residential_area(db, area_id=area_id, principal=principal)
    principal.require(LIVABILITY_WRITE)
    service.update_residential_area(db, actor=principal, row=row, **body.model_dump(exclude_unset=True))
    db.commit()
    return area_out(row)


@router.post("/residential-areas/import", response_model=ImportOut)
async def import_areas(
    db: DB,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="GeoJSON or CSV: name, population, elderly_population")],
    crs: Annotated[str, Form()] = "wgs84",
    replace: Annotated[bool, Form()] = False,
) -> ImportOut:
    principal.require(LIVABILITY_WRITE)
    count = service.import_residential_areas(
        db,
        actor=principal,
        principal=principal,
        data=await _read(file),
        filename=file.filename or "upload",
        crs=crs,
        replace=replace,
    )
    db.commit()
    return ImportOut(imported=count)


@router.get("/network", response_model=NetworkOut)
def network(db: DB, principal: CurrentPrincipal) -> NetworkOut:
    principal.require(LIVABILITY_READ)
    return NetworkOut.model_validate(service.active_network(db))


# --- accessibility -----------------------------------------------------------------------------------------


@router.post("/accessibility/runs", response_model=RunOut, status_code=201)
def create_run(body: RunCreate, db: DB, principal: CurrentPrincipal) -> RunOut:
    """Recompute accessibility for the whole district (district roles)."""
    principal.require(LIVABILITY_ANALYSE)
    run = accessibility.run(db, actor=principal, minutes=body.minutes, speed_kmh=body.speed_kmh)
    db.commit()
    return RunOut.model_validate(run)


@router.get("/accessibility", response_model=AccessibilityOut)
def coverage(db: DB, principal: CurrentPrincipal) -> AccessibilityOut:
    """Coverage of the latest run per street/town and type, within the caller's scope."""
    principal.require(LIVABILITY_READ)
    run = accessibility.latest_run(db)
    rows = accessibility.results(db, run=run, principal=view_of(db, principal))
    return AccessibilityOut(
        run=RunOut.model_validate(run),
        coverage=[CoverageRow(**c) for c in accessibility.coverage(rows)],
    )


def _result_out(r: accessibility.ResultRow) -> ResultOut:
    return ResultOut(
        residential_area_id=r.area.id,
        residential_area=r.area.name,
        lon=r.area.lon,
        lat=r.area.lat,
        street_town=r.unit.name,
        population=r.area.population,
        elderly_population=r.area.elderly_population,
        type=r.type.code,
        minutes=r.minutes,
        nearest_facility_id=r.facility.id if r.facility else None,
        nearest_facility=r.facility.name if r.facility else None,
        threshold_minutes=r.threshold,
        covered=r.covered,
    )


@router.get("/accessibility/results", response_model=list[ResultOut])
def results(
    db: DB,
    principal: CurrentPrincipal,
    type: str | None = None,
    gaps: bool = Query(False, description="only residential area × type pairs not covered"),
) -> list[ResultOut]:
    principal.require(LIVABILITY_READ)
    rows = accessibility.results(
        db, run=accessibility.latest_run(db), principal=view_of(db, principal), type_code=type
    )
    return [_result_out(r) for r in rows if not (gaps and r.covered)]


@router.get("/accessibility/results.csv", response_class=PlainTextResponse)
def results_csv(db: DB, principal: CurrentPrincipal) -> PlainTextResponse:
    principal.require(LIVABILITY_READ)
    rows = accessibility.results(db, run=accessibility.latest_run(db), principal=view_of(db, principal))
    return PlainTextResponse(
        accessibility.to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="accessibility.csv"'},
    )


# --- siting and the one-click task --------------------------------------------------------------


def plan_out(db: DB, plan: SitePlan) -> SitePlanOut:
    sites = siting.plan_sites(db, plan_id=plan.id)
    rows = db.execute(
        select(TaskProposal.plan_site_id, TaskProposal.reference, TaskProposal.task_ref).where(
            TaskProposal.plan_site_id.in_([s.id for s in sites])
        )
    ).all()
    refs = {site_id: ref for site_id, ref, _ in rows}
    # A programme task made by the programme bridge: ``programme-task:<id>``.
    urls = {
        site_id: f"/programme/tasks/{task_ref.rsplit(':', 1)[1]}"
        for site_id, _, task_ref in rows
        if task_ref and task_ref.startswith("programme-task:")
    }
    return SitePlanOut(
        id=plan.id,
        type=plan.type.code,
        method=plan.method,
        weight_by=plan.weight_by,
        k=plan.k,
        minutes=plan.minutes,
        candidate_source=plan.candidate_source,
        candidate_count=plan.candidate_count,
        coverage=plan.coverage,
        seconds=plan.seconds,
        created_at=plan.created_at,
        created_by=plan.created_by,
        sites=[
            PlanSiteOut(
                id=s.id,
                rank=s.rank,
                name=s.name,
                lon=s.lon,
                lat=s.lat,
                street_town=s.unit.name,
                idle_space_id=s.idle_space_id,
                added_population=s.added_population,
                added_elderly=s.added_elderly,
                task_reference=refs.get(s.id),
                task_url=urls.get(s.id),
            )
            for s in sites
        ],
    )


@router.post("/site-plans", response_model=SitePlanOut, status_code=201)
def create_plan(body: SitePlanCreate, db: DB, principal: CurrentPrincipal) -> SitePlanOut:
    principal.require(LIVABILITY_ANALYSE)
    if body.candidates == "idle-spaces":
        cands, source = siting.idle_space_candidates(db), "idle-spaces"
    else:
        cands, source = siting.point_candidates(db, points=list(body.candidates)), "points"
    plan = siting.plan(
        db,
        actor=principal,
        type_code=body.type,
        k=body.k,
        candidates=cands,
        candidate_source=source,
        method=body.method,
        weight_by=body.weight_by,
        minutes=body.minutes,
        speed_kmh=body.speed_kmh,
    )
    db.commit()
    return plan_out(db, plan)


@router.get("/site-plans", response_model=list[SitePlanOut])
def list_plans(db: DB, principal: CurrentPrincipal) -> list[SitePlanOut]:
    require_plans(db, principal)
    plans = db.execute(select(SitePlan).order_by(SitePlan.id.desc()).limit(50)).scalars()
    return [plan_out(db, p) for p in plans]


@router.get("/site-plans/{plan_id}", response_model=SitePlanOut)
def get_plan(plan_id: Id, db: DB, principal: CurrentPrincipal) -> SitePlanOut:
    require_plans(db, principal)
    plan = db.get(SitePlan, plan_id)
    if plan is None:
        raise NotFound("livability.plan_not_found", id=plan_id)
    return plan_out(db, plan)


def propose(db: DB, principal: Principal, site_id: Id) -> TaskProposalOut:
    require_propose(db, principal)
    site = db.get(PlanSite, site_id)
    if site is None or not view_of(db, principal).sees_path(site.unit.path):
        raise NotFound("livability.site_not_found", id=site_id)
    ref = task_bridge.propose_task(db, site=site, facility_type=site.plan.type, actor=principal)
    row = db.execute(select(TaskProposal).where(TaskProposal.reference == ref)).scalar_one_or_none()
    # A programme bridge answers with its own task reference and keeps no row here.
    return (
        TaskProposalOut.model_validate(row) if row else TaskProposalOut(reference=ref, plan_site_id=site.id)
    )


@router.post("/plan-sites/{site_id}/propose-task", response_model=TaskProposalOut, status_code=201)
def propose_task(site_id: Id, db: DB, principal: CurrentPrincipal) -> TaskProposalOut:
    """One click: propose a task in the 15-minute-circle action for this chosen site."""
    out = propose(db, principal, site_id)
    db.commit()
    return out


@router.get("/task-proposals", response_model=list[TaskProposalOut])
def list_proposals(db: DB, principal: CurrentPrincipal) -> list[TaskProposalOut]:
    require_propose(db, principal)
    rows = db.execute(select(TaskProposal).order_by(TaskProposal.id.desc()).limit(200)).scalars()
    return [TaskProposalOut.model_validate(r) for r in rows]
