"""JSON API of the twin: /api/v1/twin/... and the HTTP telemetry batch /api/v1/telemetry.

Scope: a network belongs to its operator unit; an operator sees their utility's networks, sensors
and warnings, district-wide roles see all, other accounts what lies under their unit, citizens
nothing (no twin.read). Another utility's network answers 404, as if absent.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from cityloop.core.audit import Actor
from cityloop.core.errors import Forbidden, NotFound, ValidationFailed
from cityloop.core.http import DB, CurrentPrincipal
from cityloop.core.permissions import DISTRICT_WIDE, Principal
from cityloop.core.schemas import API_ERRORS
from cityloop.core.validation import Finite, Id, Int, Timestamp
from cityloop.org import service as org
from cityloop.org.models import Unit
from cityloop.twin import alerts, case_bridge, impact, networks, service
from cityloop.twin.models import CaseRequest, Network, Sensor, TwinWarning
from cityloop.twin.permissions import DEAD_LETTERS_READ, TELEMETRY_WRITE, TWIN_READ, TWIN_WRITE
from cityloop.twin.placement import Placement, PlacementError
from cityloop.twin.schemas import (
    CaseRequestOut,
    DeadLetterOut,
    ImpactRequest,
    NetworkOut,
    ReadingOut,
    SensorCreate,
    SensorOut,
    TelemetryResult,
    WarningDetail,
    WarningEventOut,
    WarningOut,
)
from cityloop.twin.telemetry import Ingestor, parse_http

ERRORS = API_ERRORS  # one map for every router (core.schemas)
router = APIRouter(prefix="/api/v1", tags=["twin"], responses=ERRORS)
# One per API process: sensor registry and rule state are caches of what the database holds.
_INGESTOR = Ingestor(actor=Actor("telemetry-http"))


def network_out(net: Network) -> NetworkOut:
    return NetworkOut(
        name=net.name,
        title=net.title,
        kind=net.kind,
        operator=net.unit.code,
        file_name=net.file_name,
        file_format=net.file_format,
        sha256=net.sha256,
        version=net.version,
        schematic=net.schematic,
        placement=net.placement,
        valve_layer=net.valve_layer,
        summary=net.summary,
        updated_at=net.updated_at,
    )


def sensor_out(sensor: Sensor, live: dict[str, Any] | None = None) -> SensorOut:
    live = live or {}
    return SensorOut(
        code=sensor.code,
        name=sensor.name,
        kind=sensor.kind,
        measure_unit=sensor.measure_unit,
        network=sensor.network.name if sensor.network else None,
        operator=sensor.unit.code,
        asset=sensor.asset_ref,
        lon=sensor.lon,
        lat=sensor.lat,
        last_ts=live.get("ts"),
        last_value=live.get("value"),
        level=live.get("level"),
    )


def warning_out(w: TwinWarning) -> WarningOut:
    return WarningOut(
        id=w.id,
        sensor=w.sensor.code,
        network=w.sensor.network.name if w.sensor.network else None,
        cause=w.cause,
        level=w.level,
        max_level=w.max_level,
        status=w.status,
        opened_at=w.opened_at,
        last_value=w.last_value,
        last_at=w.last_at,
        normal_since=w.normal_since,
        resolved_at=w.resolved_at,
        message=w.message,
        case_state=w.case_state,
        case_ref=w.case_ref,
    )


@router.get("/twin/networks", response_model=list[NetworkOut])
def list_networks(db: DB, principal: CurrentPrincipal) -> list[NetworkOut]:
    """Networks in the caller's scope (an operator: their utility's)."""
    principal.require(TWIN_READ)
    return [network_out(n) for n in networks.list_networks(db, principal=principal)]


@router.get("/twin/networks/{name}", response_model=NetworkOut)
def get_network(name: str, db: DB, principal: CurrentPrincipal) -> NetworkOut:
    principal.require(TWIN_READ)
    return network_out(networks.network_in_scope(db, principal=principal, name=name))


@router.get("/twin/networks/{name}/geojson")
def network_geojson(name: str, db: DB, principal: CurrentPrincipal) -> dict[str, Any]:
    """The network's elements and sensors as a GeoJSON FeatureCollection (WGS84), sensors with
    their latest value and open warning level."""
    principal.require(TWIN_READ)
    net = networks.network_in_scope(db, principal=principal, name=name)
    features = [
        {
            "type": "Feature",
            "geometry": e.geometry,
            "properties": {"layer": e.category, "ref": e.ref, "type": e.type, **_brief(e.props)},
        }
        for e in networks.elements(db, network=net)
        if e.geometry
    ]
    sensors = service.list_sensors(db, principal=principal, network=net)
    live = service.live_state(db, sensors=sensors)
    for s in sensors:
        out = sensor_out(s, live.get(s.id)).model_dump(mode="json")
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [s.lon, s.lat]},
                "properties": {"layer": "sensor", **out},
            }
        )
    return {"type": "FeatureCollection", "features": features, "schematic": net.schematic}


def _brief(props: dict[str, Any]) -> dict[str, Any]:
    keep = ("diameter_m", "diameter_mm", "length_m", "base_demand_lps", "generated", "facility", "height_m")
    return {k: props[k] for k in keep if k in props}


@router.post("/twin/networks", response_model=NetworkOut, status_code=201)
async def import_network(
    db: DB,
    principal: CurrentPrincipal,
    kind: Annotated[str, Form()],
    name: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    origin: Annotated[str | None, Form()] = None,
    scale: Annotated[Finite | None, Form()] = None,
    rotation: Annotated[Finite, Form()] = 0.0,
    crs: Annotated[str | None, Form()] = None,
    unit: Annotated[str | None, Form()] = None,
    title: Annotated[str | None, Form()] = None,
) -> NetworkOut:
    """Import or re-import a model file (multipart); all or nothing."""
    principal.require(TWIN_WRITE)
    owner = _owner(db, principal, unit)
    existing = db.query(Network).filter(Network.name == name.strip()).one_or_none()
    if existing is not None and not principal.sees_path(existing.unit.path):
        raise Forbidden("error.forbidden_permission", permission=TWIN_WRITE)
    try:
        placement = Placement.from_options(crs=crs, origin=origin, scale=scale, rotation=rotation)
    except PlacementError as exc:
        raise ValidationFailed(exc.key, **exc.params) from None
    data = await file.read()
    net = networks.import_network(
        db, actor=principal, kind=kind, name=name, data=data, file_name=file.filename or "model",
        unit=owner, placement=placement, title=title,
    )  # fmt: skip
    db.commit()
    return network_out(net)


def _owner(db: DB, principal: Principal, ref: str | None) -> Unit:
    if ref is None:
        if principal.role in DISTRICT_WIDE:
            raise ValidationFailed("error.required_field", field="unit")
        return org.get_unit(db, unit_id=principal.unit_id)
    target = org.find_unit(db, ref=ref)
    if not principal.sees_path(target.path):
        raise NotFound("error.unit_not_found", ref=ref)
    return target


@router.post("/twin/networks/{name}/impact")
def network_impact(name: str, body: ImpactRequest, db: DB, principal: CurrentPrincipal) -> dict[str, Any]:
    """The impact plan: water — isolate ``pipe``; gas — a leak at ``junction`` or ``lon``/``lat``;
    drainage — a design storm of ``rain_mm`` over ``hours``."""
    principal.require(TWIN_READ)
    net = networks.network_in_scope(db, principal=principal, name=name)
    plan = impact.plan_for(db, network=net, **body.model_dump())
    db.commit()  # keeps any precompute made on the way
    return plan


@router.get("/twin/sensors", response_model=list[SensorOut])
def list_sensors(db: DB, principal: CurrentPrincipal, network: str | None = None) -> list[SensorOut]:
    principal.require(TWIN_READ)
    net = networks.network_in_scope(db, principal=principal, name=network) if network else None
    sensors = service.list_sensors(db, principal=principal, network=net)
    live = service.live_state(db, sensors=sensors)
    return [sensor_out(s, live.get(s.id)) for s in sensors]


@router.post("/twin/sensors", response_model=SensorOut, status_code=201)
def create_sensor(body: SensorCreate, db: DB, principal: CurrentPrincipal) -> SensorOut:
    principal.require(TWIN_WRITE)
    net = networks.network_in_scope(db, principal=principal, name=body.network) if body.network else None
    owner = None if net else _owner(db, principal, None)
    sensor = service.create_sensor(
        db, actor=principal, code=body.code, kind=body.kind, network=net, unit=owner, asset_ref=body.asset,
        lon=body.lon, lat=body.lat, name=body.name, measure_unit=body.measure_unit, rules=body.rules,
    )  # fmt: skip
    db.commit()
    return sensor_out(sensor)


@router.get("/twin/sensors/{code}/readings", response_model=list[ReadingOut])
def sensor_readings(
    code: str,
    db: DB,
    principal: CurrentPrincipal,
    since: Timestamp | None = None,
    limit: Annotated[Int, Query(ge=1, le=10000)] = 500,
) -> list[ReadingOut]:
    """Readings newest first."""
    principal.require(TWIN_READ)
    sensor = service.sensor_in_scope(db, principal=principal, code=code)
    return [
        ReadingOut(ts=r.ts, value=r.value)
        for r in service.readings(db, sensor=sensor, since=since, limit=limit)
    ]


@router.post("/telemetry", response_model=TelemetryResult)
async def telemetry(request: Request, db: DB, principal: CurrentPrincipal) -> TelemetryResult:
    """A batch of readings: ``[{"sensor", "ts", "value"}, …]`` or ``{"readings": [...]}``. Stored
    once per (sensor, ts); bad items and sensors outside the caller's scope are dead-lettered."""
    principal.require(TELEMETRY_WRITE)
    body = await request.body()
    # Parsing and the database work run in a worker thread: while one batch waits on the database
    # (the GIL released), the next one is parsed, instead of the event loop doing both in turn.
    return await run_in_threadpool(_ingest_body, body, db, principal)


_INGEST_LOCK = threading.Lock()  # the rule states in _INGESTOR are judged one batch at a time


def _ingest_body(body: bytes, db: Session, principal: Principal) -> TelemetryResult:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # ValueError: bad JSON, > 4,300 digits
        raise ValidationFailed(
            "error.invalid_json", error_code="invalid_json", status_code=400, details=str(exc)
        ) from None
    if not isinstance(doc, list | dict):
        raise ValidationFailed("twin.error.telemetry_body")
    items = parse_http(doc)
    # End the transaction the sign-in check opened before queuing for _INGEST_LOCK: a batch never
    # holds a database lock (SQLite's one writer) while it waits for another batch. Lock order: ours,
    # then the database's.
    db.rollback()
    with _INGEST_LOCK:
        try:
            result = _INGESTOR.ingest(db, items, channel="http", scope_path=principal.scope_path)
            db.commit()
        except Exception:
            _INGESTOR.reset()
            raise
    return TelemetryResult(
        received=result.received,
        stored=result.stored,
        duplicates=result.duplicates,
        dead_lettered=result.dead_lettered,
        warnings=result.warnings,
    )


@router.get("/twin/warnings", response_model=list[WarningOut])
def list_warnings(
    db: DB,
    principal: CurrentPrincipal,
    status: str | None = Query(None, pattern="^(open|resolved)$"),
    network: str | None = None,
) -> list[WarningOut]:
    principal.require(TWIN_READ)
    net = networks.network_in_scope(db, principal=principal, name=network) if network else None
    items = alerts.list_warnings(db, principal=principal, status=status, network_id=net.id if net else None)
    return [warning_out(w) for w in items]


@router.get("/twin/warnings/{warning_id}", response_model=WarningDetail)
def get_warning(warning_id: Id, db: DB, principal: CurrentPrincipal) -> WarningDetail:
    """A warning with its full history, impact plan and case request."""
    principal.require(TWIN_READ)
    w = alerts.warning_in_scope(db, principal=principal, warning_id=warning_id)
    request = db.query(CaseRequest).filter(CaseRequest.warning_id == w.id).one_or_none()
    return WarningDetail(
        **warning_out(w).model_dump(),
        events=[WarningEventOut.model_validate(e) for e in alerts.events(db, warning=w)],
        impact=w.impact,
        impact_error=w.impact_error,
        case_request=CaseRequestOut(
            id=request.id,
            status=request.status,
            unit=request.unit.code,
            source=request.source,
            source_ref=request.source_ref,
            title=request.title,
            created_at=request.created_at,
        )
        if request
        else None,
        sensors_normal=case_bridge.sensors_normal_since(db, w),
    )


@router.get("/twin/dead-letters", response_model=list[DeadLetterOut])
def dead_letters(
    db: DB, principal: CurrentPrincipal, limit: Annotated[Int, Query(ge=1, le=2000)] = 200
) -> list[DeadLetterOut]:
    """Input that could not be stored, newest first (district-wide roles: payloads cross utilities)."""
    principal.require(DEAD_LETTERS_READ)
    return [DeadLetterOut.model_validate(d) for d in service.dead_letters(db, limit=limit)]
