"""``cityloop twin simulate``: feed the demo sensors from the engines, so the loop can be watched.

Scenarios (one reading per sensor per simulated minute, timestamps ending now):

- ``normal``: EPANET pressures for the time of day (+ noise), tank levels, dry weather, no gas;
- ``leak``: a leak appears at a junction halfway through (an EPANET emitter), so pressures near
  it drop: low-pressure, rate and model-deviation warnings follow;
- ``rainstorm``: a 100 mm / 3 h design storm on the drainage model; gauge totals and waterlogging
  depth (SWMM flooding volume over a 500 m² low spot) rise, an open manhole cover at the peak;
- ``gas-leak``: methane at one gas sensor climbs to 60 %LEL.

Readings go out by MQTT (``--via mqtt``), the HTTP batch (``--via http``) or straight into the
database through the same ingest code (``--via db``, no broker needed).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityloop.core.clock import display_zone, now
from cityloop.twin import drainage, hydraulics
from cityloop.twin.formats import quiet
from cityloop.twin.models import Network, Sensor
from cityloop.twin.models import Reading as StoredReading

SCENARIOS = ("normal", "leak", "rainstorm", "gas-leak")
PONDING_AREA_M2 = 500.0


@dataclass(frozen=True)
class Reading:
    sensor: str
    ts: datetime
    value: float


def _water(
    session: Session,
    net: Network,
    sensors: list[Sensor],
    stamps: list[datetime],
    leak_at: str | None,
    rng: random.Random,
) -> Iterator[Reading]:
    model = hydraulics.epanet_for(net.sha256, net.model_bytes)
    levels = {s.asset_ref: s for s in sensors if s.kind == "level"}
    init = {}
    for ref in levels:
        if ref in model.index:
            init[ref] = model.en.ENgetnodevalue(model.index[ref], model.EN.TANKLEVEL)
    coeff = None
    for i, ts in enumerate(stamps):
        local = ts.astimezone(display_zone())
        seconds = local.hour * 3600 + local.minute * 60
        emitters = {}
        if leak_at and i >= len(stamps) // 2:
            with model.lock:
                coeff = (
                    coeff or model.leak_coefficient(model.snapshot(seconds_of_day=seconds)) * 40
                )  # a burst
            emitters = {leak_at: coeff}
        with model.lock:
            pressures = model.snapshot(seconds_of_day=seconds, emitters=emitters)
        for s in sensors:
            if s.kind == "pressure" and s.asset_ref in pressures:
                yield Reading(s.code, ts, round(pressures[s.asset_ref] + rng.gauss(0, 0.05), 3))
            elif s.kind == "level" and s.asset_ref in init:
                yield Reading(
                    s.code,
                    ts,
                    round(
                        init[s.asset_ref]
                        + 0.3 * math.sin(seconds / 86400 * 2 * math.pi)
                        + rng.gauss(0, 0.01),
                        3,
                    ),
                )


def _drainage(
    net: Network, sensors: list[Sensor], stamps: list[datetime], storm: bool, rng: random.Random
) -> Iterator[Reading]:
    steps = len(stamps)
    if not storm:
        for ts in stamps:
            for s in sensors:
                value = {"rainfall": 0.0, "water_level": abs(rng.gauss(0, 0.5)), "manhole_cover": 0.0}.get(
                    s.kind
                )
                if value is not None:
                    yield Reading(s.code, ts, round(value, 2))
        return
    intensities = drainage.design_storm(100.0, min(3.0, max(steps / 60, 0.25)))
    depths = _ponding(net, intensities, {s.asset_ref for s in sensors if s.kind == "water_level"}, steps)
    for i, ts in enumerate(stamps):
        k = min(i // drainage.STEP_MIN, len(intensities) - 1)
        for s in sensors:
            if s.kind == "rainfall":
                yield Reading(s.code, ts, round(intensities[k] / 60, 3))  # mm in this minute
            elif s.kind == "water_level":
                yield Reading(s.code, ts, round(depths.get(s.asset_ref or "", [0.0] * steps)[i], 1))
            elif s.kind == "manhole_cover":
                yield Reading(s.code, ts, 1.0 if i >= steps * 0.6 else 0.0)


def _ponding(
    net: Network, intensities: list[float], nodes: set[str | None], steps: int
) -> dict[str, list[float]]:
    """Waterlogging depth (cm) per minute at the nodes, from SWMM's flooding rate."""
    import tempfile
    from pathlib import Path

    from pyswmm import Nodes, Simulation

    text = drainage._rewrite(net.model_bytes.decode("utf-8", errors="replace"), intensities, 1.0)
    out: dict[str, list[float]] = {n: [] for n in nodes if n}
    volume = dict.fromkeys(out, 0.0)
    with tempfile.TemporaryDirectory() as tmp, quiet():
        path = Path(tmp) / "storm.inp"
        path.write_text(text)
        with Simulation(str(path)) as sim:
            sim.step_advance(60)
            swmm_nodes = Nodes(sim)
            for _ in sim:
                for n in out:
                    rate = float(swmm_nodes[n].flooding)
                    volume[n] = max(0.0, volume[n] + rate * 60 - (0 if rate > 0 else 3.0))
                    out[n].append(volume[n] / PONDING_AREA_M2 * 100)
                if all(len(v) >= steps for v in out.values()):
                    break
    return {n: (v + [v[-1] if v else 0.0] * steps)[:steps] for n, v in out.items()}


def _gas(sensors: list[Sensor], stamps: list[datetime], leak: bool, rng: random.Random) -> Iterator[Reading]:
    target = sensors[0].code if sensors else None
    for i, ts in enumerate(stamps):
        for s in sensors:
            value = abs(rng.gauss(1.0, 0.5))
            if leak and s.code == target and i >= len(stamps) // 3:
                value = min(60.0, 5.0 + (i - len(stamps) // 3) * 4.0 + rng.gauss(0, 1.5))
            yield Reading(s.code, ts, round(value, 2))


def readings(
    session: Session, *, scenario: str, minutes: int, leak_at: str = "153", seed: int = 1
) -> list[Reading]:
    """The scenario's readings for every sensor on a network, one per minute: ending now, or
    continuing after the newest stored reading when runs follow each other."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}")
    rng = random.Random(seed)
    start = now().replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    newest = session.execute(select(func.max(StoredReading.ts))).scalar()
    if newest is not None and newest >= start:
        start = newest.replace(second=0, microsecond=0) + timedelta(minutes=1)
    stamps = [start + timedelta(minutes=i) for i in range(minutes)]
    out: list[Reading] = []
    for net in session.execute(select(Network).order_by(Network.id)).scalars():
        sensors = list(
            session.execute(
                select(Sensor).where(Sensor.network_id == net.id, Sensor.active.is_(True))
            ).scalars()
        )
        if not sensors:
            continue
        if net.kind == "water":
            out.extend(_water(session, net, sensors, stamps, leak_at if scenario == "leak" else None, rng))
        elif net.kind == "drainage":
            out.extend(_drainage(net, sensors, stamps, scenario == "rainstorm", rng))
        else:
            out.extend(_gas(sensors, stamps, scenario == "gas-leak", rng))
    out.sort(key=lambda r: r.ts)
    return out


def by_minute(items: list[Reading]) -> Iterator[list[Reading]]:
    batch: list[Reading] = []
    for r in items:
        if batch and r.ts != batch[0].ts:
            yield batch
            batch = []
        batch.append(r)
    if batch:
        yield batch


def publish_mqtt(items: list[Reading], broker: str, *, realtime: bool) -> int:
    """One message per sensor per minute (a list of one reading), QoS 1, waited for."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from cityloop.twin.ingest.mqtt import parse_broker

    host, port = parse_broker(broker)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"cityloop-sim-{random.randrange(10**6)}",
        protocol=mqtt.MQTTv311,  # what every broker speaks (RabbitMQ 3.10's plugin: only 3.1.1)
    )
    client.connect(host, port)
    client.loop_start()
    sent = 0
    try:
        for minute in by_minute(items):
            for r in minute:
                payload = json.dumps([{"ts": r.ts.isoformat(), "value": r.value}])
                client.publish(f"cityloop/telemetry/{r.sensor}", payload, qos=1).wait_for_publish(10)
                sent += 1
            if realtime:
                time.sleep(1.0)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent


def publish_http(items: list[Reading], url: str, token: str, *, realtime: bool) -> int:
    import httpx

    sent = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        for minute in by_minute(items):
            body: list[dict[str, Any]] = [
                {"sensor": r.sensor, "ts": r.ts.isoformat(), "value": r.value} for r in minute
            ]
            http.post("/api/v1/telemetry", json=body).raise_for_status()
            sent += len(body)
            if realtime:
                time.sleep(1.0)
    return sent


def store_direct(items: list[Reading]) -> int:
    """Through the same ingest code as MQTT and HTTP, one transaction per simulated minute."""
    from cityloop.core.audit import Actor
    from cityloop.core.db import session_scope
    from cityloop.twin.telemetry import Incoming, Ingestor

    ingestor = Ingestor(actor=Actor("twin-simulate"))
    stored = 0
    for minute in by_minute(items):
        with session_scope() as session:
            result = ingestor.ingest(
                session, [Incoming(r.sensor, r.ts, r.value) for r in minute], channel="http"
            )
            stored += result.stored
    return stored
