"""Impact plans for a pipe, a leak, a storm or a warning, from the stored network and its engine.

What depends only on a network version (valve segments, leak signatures) is computed once and
kept in ``twin_precomputes`` under the model's SHA-256; a plan then costs dictionary look-ups,
a graph search and one EPANET snapshot.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core.clock import display_zone, now
from cityloop.core.errors import NotFound, ValidationFailed
from cityloop.twin import drainage, gas, hydraulics
from cityloop.twin.inpfile import ModelProblem
from cityloop.twin.models import Element, Network, Precompute, Reading, Sensor

MIN_SERVICE_PRESSURE_M = 10.0


@dataclass
class Topology:
    links: list[tuple[str, str, str]]  # (ref, from, to)
    valves: list[tuple[str, str, str]]  # (ref, link, node)
    sources: set[str]
    nodes: dict[str, dict[str, Any]]  # ref → {type, props, geometry}
    customers: list[dict[str, Any]]  # gas sinks: {ref, junction, index}


_topologies: dict[tuple[int, int, str], Topology] = {}


def topology(session: Session, network: Network) -> Topology:
    key = (network.id, network.version, network.sha256)
    if key in _topologies:
        return _topologies[key]
    rows = session.execute(
        select(Element.category, Element.ref, Element.type, Element.props, Element.geometry).where(
            Element.network_id == network.id
        )
    ).all()
    links, valves, nodes, customers = [], [], {}, []
    for category, ref, typ, props, geometry in rows:
        if category == "link":
            links.append((ref, props["from"], props["to"]))
        elif category == "valve":
            valves.append((ref, props["link"], props["node"]))
        elif typ == "customer":
            customers.append({"ref": ref, "junction": props["junction"], "index": props.get("index")})
        else:
            nodes[ref] = {"type": typ, "props": props, "geometry": geometry}
    sources = {r for r, n in nodes.items() if n["type"] in ("reservoir", "tank")}
    sources |= set(network.summary.get("meta", {}).get("supply") or [])
    topo = Topology(links, valves, sources, nodes, customers)
    if len(_topologies) > 32:
        _topologies.clear()
    _topologies[key] = topo
    return topo


def _cached(
    session: Session, network: Network, kind: str, build: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    found = session.execute(
        select(Precompute).where(
            Precompute.network_id == network.id, Precompute.kind == kind, Precompute.sha256 == network.sha256
        )
    ).scalar_one_or_none()
    if found is not None:
        return found.data
    started = time.perf_counter()
    data = build()
    session.add(
        Precompute(
            network_id=network.id,
            kind=kind,
            sha256=network.sha256,
            data=data,
            seconds=round(time.perf_counter() - started, 3),
        )
    )
    session.flush()
    return data


def segments(session: Session, network: Network) -> dict[str, Any]:
    topo = topology(session, network)
    pairs = [(link, node) for _, link, node in topo.valves]
    return _cached(session, network, "valve_segments", lambda: hydraulics.valve_segments(topo.links, pairs))


def _pressure_sensor_nodes(session: Session, network: Network) -> list[str]:
    refs = session.execute(
        select(Sensor.asset_ref).where(
            Sensor.network_id == network.id, Sensor.kind == "pressure", Sensor.asset_ref.is_not(None)
        )
    ).scalars()
    return sorted({r for r in refs if r})


def signatures(session: Session, network: Network, sensor_nodes: list[str] | None = None) -> dict[str, Any]:
    nodes = sensor_nodes if sensor_nodes is not None else _pressure_sensor_nodes(session, network)
    model = hydraulics.epanet_for(network.sha256, network.model_bytes)
    nodes = [n for n in nodes if n in model.index]
    key = "leak_signatures:" + hashlib.sha1(json.dumps(nodes).encode()).hexdigest()[:12]
    return _cached(session, network, key, lambda: hydraulics.leak_signatures(model, nodes))


def precompute(session: Session, *, network: Network) -> dict[str, float]:
    """Compute and store what plans reuse; returns seconds per item (0 when already stored)."""
    out: dict[str, float] = {}
    if network.kind in ("water", "gas"):
        started = time.perf_counter()
        segments(session, network)
        out["valve_segments"] = time.perf_counter() - started
    if network.kind == "water" and _pressure_sensor_nodes(session, network):
        started = time.perf_counter()
        signatures(session, network)
        out["leak_signatures"] = time.perf_counter() - started
    return out


# --- water ---------------------------------------------------------------------------------------


def _seconds_of_day() -> int:
    local = now().astimezone(display_zone())
    return local.hour * 3600 + local.minute * 60


def water_plan(
    session: Session, *, network: Network, pipe: str | None = None, node: str | None = None
) -> dict[str, Any]:
    """Isolating a pipe (or the segment around a node): valves, customers, demand, facilities,
    and the nodes whose pressure falls below service level once the segment is shut."""
    topo = topology(session, network)
    segs = segments(session, network)
    if pipe is not None:
        if pipe not in segs["link"]:
            raise NotFound("twin.error.pipe_not_found", ref=pipe, network=network.name)
        segment = segs["link"][pipe]
    else:
        if node not in segs["node"]:
            raise NotFound("twin.error.element_not_found", ref=node, network=network.name)
        segment = segs["node"][str(node)]
    iso = hydraulics.isolate(
        segment=segment, segments=segs, links=topo.links, valves=topo.valves, sources=topo.sources
    )
    cut = iso["cut_off_nodes"]
    demand_nodes = [
        n for n in cut if (topo.nodes.get(n, {}).get("props", {}).get("base_demand_lps") or 0) > 0
    ]
    facilities = [
        {"node": n, **topo.nodes[n]["props"]["facility"]}
        for n in cut
        if topo.nodes.get(n, {}).get("props", {}).get("facility")
    ]
    model = hydraulics.epanet_for(network.sha256, network.model_bytes)
    closed = [ref for ref in iso["segment_links"]] + [v["link"] for v in iso["valves"]]
    with model.lock:
        pressures = model.snapshot(seconds_of_day=_seconds_of_day(), closed_links=closed)
    low = sorted(
        n
        for n, p in pressures.items()
        if n in topo.nodes
        and topo.nodes[n]["type"] == "junction"
        and n not in cut
        and p < MIN_SERVICE_PRESSURE_M
    )
    return {
        "kind": "water",
        "network": network.name,
        "pipe": pipe,
        "node": node,
        "valve_layer": network.valve_layer,
        "valves": iso["valves"],
        "segment_pipes": iso["segment_links"],
        "customers_cut_off": demand_nodes,
        "demand_cut_off_lps": round(
            sum(topo.nodes[n]["props"].get("base_demand_lps") or 0 for n in demand_nodes), 3
        ),
        "nodes_cut_off": cut,
        "critical_facilities": facilities,
        "low_pressure_nodes": low,
        "min_service_pressure_m": MIN_SERVICE_PRESSURE_M,
    }


def expected_pressures(session: Session, *, network: Network) -> dict[str, float]:
    """EPANET's pressure at every node for now: demand pattern at this time of day, tank levels
    from the latest tank-level readings of sensors on tanks."""
    topo = topology(session, network)
    tank_levels: dict[str, float] = {}
    for sensor in session.execute(
        select(Sensor).where(Sensor.network_id == network.id, Sensor.kind == "level")
    ).scalars():
        if sensor.asset_ref and topo.nodes.get(sensor.asset_ref, {}).get("type") == "tank":
            last = session.execute(
                select(Reading.value)
                .where(Reading.sensor_id == sensor.id)
                .order_by(Reading.ts.desc())
                .limit(1)
            ).scalar()
            if last is not None:
                tank_levels[sensor.asset_ref] = float(last)
    model = hydraulics.epanet_for(network.sha256, network.model_bytes)
    with model.lock:
        return model.snapshot(seconds_of_day=_seconds_of_day(), tank_levels=tank_levels)


def leak_candidates(session: Session, *, network: Network, window_min: float = 30) -> list[dict[str, Any]]:
    """Pipes ranked by the model as the likely leak, from the latest pressure residuals."""
    expected = expected_pressures(session, network=network)
    since = now().timestamp() - window_min * 60
    residuals: dict[str, float] = {}
    for sensor in session.execute(
        select(Sensor).where(Sensor.network_id == network.id, Sensor.kind == "pressure")
    ).scalars():
        row = session.execute(
            select(Reading.ts, Reading.value)
            .where(Reading.sensor_id == sensor.id)
            .order_by(Reading.ts.desc())
            .limit(1)
        ).first()
        if row and sensor.asset_ref in expected and row[0].timestamp() >= since:
            residuals[sensor.asset_ref] = float(row[1]) - expected[sensor.asset_ref]
    if not residuals:
        return []
    pre = signatures(session, network, sorted(residuals))
    return hydraulics.rank_leak_pipes(pre, residuals, topology(session, network).links)


# --- gas and drainage -----------------------------------------------------------------------------


def _nearest_node(topo: Topology, lon: float, lat: float, types: tuple[str, ...]) -> str:
    best, best_d = None, math.inf
    for ref, node in topo.nodes.items():
        geom = node.get("geometry")
        if node["type"] not in types or not geom:
            continue
        x, y = geom["coordinates"]
        d = (x - lon) ** 2 + ((y - lat) * 1.15) ** 2
        if d < best_d:
            best, best_d = ref, d
    if best is None:
        raise ValidationFailed("twin.error.no_junction_near")
    return best


def gas_plan(
    session: Session, *, network: Network, junction: str | None = None, lon: float | None = None,
    lat: float | None = None, leak_kg_s: float = 0.05, min_pressure_bar: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    topo = topology(session, network)
    if junction is None:
        if lon is None or lat is None:
            raise ValidationFailed("twin.error.no_junction_near")
        junction = _nearest_node(topo, lon, lat, ("junction",))
    if junction not in topo.nodes:
        raise NotFound("twin.error.element_not_found", ref=junction, network=network.name)
    segs = segments(session, network)
    iso = hydraulics.isolate(
        segment=segs["node"][junction],
        segments=segs,
        links=topo.links,
        valves=topo.valves,
        sources=topo.sources,
    )
    link_index = {ref: e.props.get("index") for ref, e in _link_props(session, network).items()}
    pipes = [int(i) for ref in iso["segment_links"] if (i := link_index.get(ref)) is not None]
    refs = {c["index"]: c["ref"] for c in topo.customers if c.get("index") is not None}
    try:
        result = gas.leak_impact(
            network.model_bytes,
            junction_index=int(topo.nodes[junction]["props"]["index"]),
            leak_kg_s=leak_kg_s,
            min_pressure_bar=min_pressure_bar,
            customer_refs=refs,
            isolate_pipes=pipes,
        )
    except ModelProblem as exc:
        raise ValidationFailed("twin.error.impact_failed", reason=exc.params.get("reason", exc.key)) from None
    result.update(
        network=network.name, junction=junction, valves=iso["valves"], segment_pipes=iso["segment_links"]
    )
    return result


def _link_props(session: Session, network: Network) -> dict[str, Element]:
    rows = session.execute(
        select(Element).where(Element.network_id == network.id, Element.category == "link")
    ).scalars()
    return {e.ref: e for e in rows}


def drainage_plan(
    session: Session, *, network: Network, rain_mm: float | None = None, hours: float = 2.0,
    totals_mm: list[float] | None = None,
) -> dict[str, Any]:  # fmt: skip
    try:
        if totals_mm is not None:
            intensities = drainage.observed_storm(totals_mm)
        else:
            intensities = drainage.design_storm(float(rain_mm or 0), hours)
    except ValueError as exc:
        raise ValidationFailed("twin.error.storm", reason=str(exc)) from None
    try:
        result = drainage.flood_forecast(network.model_bytes, intensities)
    except ModelProblem as exc:
        raise ValidationFailed("twin.error.impact_failed", reason=exc.params.get("reason", exc.key)) from None
    result["network"] = network.name
    return result


def plan_for(
    session: Session, *, network: Network, pipe: str | None = None, junction: str | None = None,
    lon: float | None = None, lat: float | None = None, leak_kg_s: float = 0.05,
    rain_mm: float | None = None, hours: float = 2.0,
) -> dict[str, Any]:  # fmt: skip
    """The plan the CLI and the API ask for, by network kind."""
    if network.kind == "water":
        if not pipe:
            raise ValidationFailed("twin.error.pipe_not_found", ref="", network=network.name)
        return water_plan(session, network=network, pipe=pipe)
    if network.kind == "gas":
        return gas_plan(session, network=network, junction=junction, lon=lon, lat=lat, leak_kg_s=leak_kg_s)
    return drainage_plan(
        session, network=network, rain_mm=rain_mm if rain_mm is not None else 50.0, hours=hours
    )
