"""Pages of the twin: /twin (networks and open warnings), /twin/networks/{name} (the network on
the map with its sensors' live state), /twin/warnings/{id} (history, impact plan, case request)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from cityloop.core.http import DB
from cityloop.core.validation import Id
from cityloop.twin import alerts, case_bridge, leak_online, networks, service
from cityloop.twin.models import CaseRequest, LeakDetection, TwinWarning, WarningStatus
from cityloop.twin.permissions import TWIN_READ
from cityloop.web.pages import PageUser, render

router = APIRouter(include_in_schema=False)


@router.get("/twin", response_class=HTMLResponse)
def twin_home(request: Request, me: PageUser, db: DB) -> HTMLResponse:
    me.require(TWIN_READ)
    nets = networks.list_networks(db, principal=me)
    warnings = alerts.list_warnings(db, principal=me, status=WarningStatus.open, limit=50)
    return render(request, "twin/index.html", networks=nets, warnings=warnings)


@router.get("/twin/networks/{name}", response_class=HTMLResponse)
def network_page(name: str, request: Request, me: PageUser, db: DB) -> HTMLResponse:
    me.require(TWIN_READ)
    net = networks.network_in_scope(db, principal=me, name=name)
    sensors = service.list_sensors(db, principal=me, network=net)
    live = service.live_state(db, sensors=sensors)
    warnings = alerts.list_warnings(db, principal=me, network_id=net.id, limit=50)
    open_leaks = [w for w in warnings if w.cause == leak_online.CAUSE and w.status == WarningStatus.open]
    found = leak_online.detections_for(db, warning_ids=[w.id for w in open_leaks])
    leaks = [(w, found[w.id]) for w in open_leaks if w.id in found]
    return render(
        request, "twin/network.html", net=net, sensors=sensors, live=live, warnings=warnings, leaks=leaks,
        leak_candidates=leak_online.map_candidates({w.id: rows for w, rows in leaks}),
    )  # fmt: skip


def _leaks_of(db: DB, w: TwinWarning) -> list[tuple[TwinWarning, list[LeakDetection]]]:
    if w.cause != leak_online.CAUSE:
        return []
    rows = leak_online.detections_for(db, warning_ids=[w.id]).get(w.id)
    return [(w, rows)] if rows else []


@router.get("/twin/warnings/{warning_id}", response_class=HTMLResponse)
def warning_page(warning_id: Id, request: Request, me: PageUser, db: DB) -> HTMLResponse:
    me.require(TWIN_READ)
    w = alerts.warning_in_scope(db, principal=me, warning_id=warning_id)
    case = db.execute(select(CaseRequest).where(CaseRequest.warning_id == w.id)).scalar_one_or_none()
    return render(
        request,
        "twin/warning.html",
        w=w,
        events=alerts.events(db, warning=w),
        case=case,
        sensor_case=case_bridge.case_of_warning(db, w),
        normal=case_bridge.sensors_normal_since(db, w),
        leaks=_leaks_of(db, w),
    )
