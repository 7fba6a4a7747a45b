"""``cityloop twin …``: import networks, register sensors, ingest MQTT, impact plans, simulate."""

from __future__ import annotations

import gc
import json
import logging
import socket
from pathlib import Path

import typer

from cityloop.core.audit import Actor
from cityloop.core.cliutil import COUNT, FINITE, cli_errors, console, fail
from cityloop.twin.leaks import cli as leaks_cli

twin_app = typer.Typer(help="Digital twin of water, drainage and gas networks", no_args_is_help=True)
CLI_ACTOR = Actor("cli")
OPERATORS = {"water": "util-water", "drainage": "util-drain", "gas": "util-gas"}


@twin_app.command("import")
@cli_errors
def import_cmd(
    kind: str = typer.Option(
        ..., "--kind", help="water (EPANET .inp), drainage (SWMM .inp) or gas (pandapipes JSON)"
    ),
    inp: Path = typer.Option(..., "--inp", help="the model file"),
    name: str = typer.Option(..., "--name", help="a short name to refer to the network"),
    origin: str = typer.Option(None, "--origin", help="LON,LAT where the drawing's centre goes"),
    scale: float = typer.Option(
        None, "--scale", help="metres per drawing unit (with --origin)", parser=FINITE
    ),
    rotation: float = typer.Option(
        0.0, "--rotation", help="degrees counter-clockwise (with --origin)", parser=FINITE
    ),
    crs: str = typer.Option(None, "--crs", help="the file's real CRS, e.g. EPSG:4547 or EPSG:4326"),
    unit: str = typer.Option(None, "--unit", help="operator unit (default util-water/util-drain/util-gas)"),
    valves: Path = typer.Option(None, "--valves", help="CSV of isolation valves: link,node"),
    title: str = typer.Option(None, "--title"),
) -> None:
    """Import (or re-import) a network model with its elements, placed on the district map."""
    from cityloop.core.db import session_scope
    from cityloop.core.errors import ValidationFailed
    from cityloop.org import service as org
    from cityloop.twin import networks
    from cityloop.twin.placement import Placement, PlacementError

    if not inp.is_file():
        raise fail(f"file not found: {inp}")
    try:
        placement = Placement.from_options(crs=crs, origin=origin, scale=scale, rotation=rotation)
    except PlacementError as exc:
        raise ValidationFailed(exc.key, **exc.params) from None
    layer = _read_valves(valves) if valves else None
    with session_scope() as session:
        owner = org.find_unit(session, ref=unit or OPERATORS.get(kind, "util-water"))
        net = networks.import_network(
            session, actor=CLI_ACTOR, kind=kind, name=name, data=inp.read_bytes(), file_name=inp.name,
            unit=owner, placement=placement, title=title, valves=layer,
        )  # fmt: skip
        counts = ", ".join(f"{k} {v}" for k, v in sorted(net.summary["counts"].items()))
        console.print(f"imported {net.name} v{net.version} ({net.kind}, {owner.code}): {counts}")
        console.print(f"valve layer: {net.valve_layer} ({net.summary['valves']}); sha256 {net.sha256[:12]}")


def _read_valves(path: Path) -> list[tuple[str, str]]:
    import csv

    from cityloop.core.validation import clean_lines

    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(clean_lines(fh)))
    if not rows or not {"link", "node"} <= set(rows[0]):
        raise fail(f"{path}: needs a header with columns link,node")
    return [(r["link"].strip(), r["node"].strip()) for r in rows]


@twin_app.command("sensor-add")
@cli_errors
def sensor_add(
    code: str = typer.Option(..., "--code"),
    kind: str = typer.Option(..., "--kind", help="pressure, flow, level, water_level, rainfall, gas, …"),
    network: str = typer.Option(None, "--network"),
    asset: str = typer.Option(None, "--asset", help="element id in the model (node or link)"),
    lon: float = typer.Option(None, "--lon", parser=FINITE),
    lat: float = typer.Option(None, "--lat", parser=FINITE),
    name: str = typer.Option(None, "--name"),
) -> None:
    """Register a sensor on a network element or at a point."""
    from cityloop.core.db import session_scope
    from cityloop.twin import networks, service

    with session_scope() as session:
        net = networks.get_network(session, name=network) if network else None
        sensor = service.create_sensor(
            session, actor=CLI_ACTOR, code=code, kind=kind, network=net, asset_ref=asset, lon=lon, lat=lat,
            name=name,
        )  # fmt: skip
        console.print(
            f"sensor {sensor.code} ({sensor.kind}, {sensor.measure_unit}) at {sensor.lon},{sensor.lat}"
        )


@twin_app.command("ingest-mqtt")
@cli_errors
def ingest_mqtt(
    broker: str = typer.Option(
        None,
        "--broker",
        help="amqp://USER:PASS@HOST:PORT/VHOST (RabbitMQ queue fed by its MQTT plugin, the default) "
        "or mqtt://HOST:PORT (plain subscription); default: settings.telemetry_broker",
    ),
    queue: str = typer.Option(
        None, "--queue", help="amqp: the durable queue (default: settings.telemetry_queue)"
    ),
    client_id: str = typer.Option(
        None, "--client-id", help="mqtt: stable per ingester, it names the persistent session"
    ),
    batch: int = typer.Option(5000, "--batch", min=1, help="readings per transaction at most", parser=COUNT),
    prefetch: int = typer.Option(
        2000, "--prefetch", min=1, help="amqp: unacknowledged messages held at once"
    ),
    seconds: float = typer.Option(
        None, "--seconds", help="stop after this long (tests, benchmarks)", parser=FINITE
    ),
    share: bool = typer.Option(
        True, "--share/--no-share", help="mqtt: shared subscription (several ingesters)"
    ),
    receive_maximum: int = typer.Option(
        1000, "--receive-maximum", min=1, help="mqtt: unacknowledged messages the broker may send at once"
    ),
    mqtt_version: str = typer.Option("5", "--mqtt-version", help="mqtt: 5 or 3.1.1"),
    setup_only: bool = typer.Option(
        False, "--setup-only", help="amqp: declare the queue and its binding, then exit"
    ),
) -> None:
    """Store telemetry from the broker until stopped; each message is acknowledged after commit."""
    from cityloop.config import get_settings
    from cityloop.twin.ingest import Ingester, open_source, run_until_signalled

    settings = get_settings()
    url = broker or settings.telemetry_broker
    queue_name = queue or settings.telemetry_queue
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)
    try:
        source = open_source(
            url, client_id=client_id or f"cityloop-ingest-{socket.gethostname()}", queue=queue_name,
            shared=share, receive_maximum=receive_maximum, prefetch=prefetch, mqtt_version=mqtt_version,
        )  # fmt: skip
    except ValueError as exc:
        raise fail(str(exc)) from None
    if setup_only:
        if not url.startswith(("amqp://", "amqps://")):
            raise fail("--setup-only needs an amqp:// broker")
        from cityloop.twin.ingest.amqp import setup

        try:
            setup(url, queue_name)
        except Exception as exc:  # one clear line for any connection failure
            raise fail(
                f"cannot declare {queue_name} on {source.description}: {type(exc).__name__} {exc}"
            ) from None
        console.print(f"queue {queue_name} bound to amq.topic cityloop.telemetry.# on {source.description}")
        return
    ingester = Ingester(source, batch_readings=batch)
    gc.freeze()  # the start-up heap is never garbage: keep it out of the collector's way (see MEASURED)
    stats = run_until_signalled(ingester, max_seconds=seconds)
    console.print(stats.line())


@twin_app.command("impact")
@cli_errors
def impact_cmd(
    network: str = typer.Option(..., "--network"),
    pipe: str = typer.Option(None, "--pipe", help="water: the pipe to isolate"),
    junction: str = typer.Option(None, "--junction", help="gas: the leaking junction"),
    lon: float = typer.Option(None, "--lon", help="gas: leak location (nearest junction)", parser=FINITE),
    lat: float = typer.Option(None, "--lat", parser=FINITE),
    leak_kg_s: float = typer.Option(0.05, "--leak-kg-s", help="gas: leak mass flow", parser=FINITE),
    rain_mm: float = typer.Option(None, "--rain-mm", help="drainage: design storm depth", parser=FINITE),
    hours: float = typer.Option(2.0, "--hours", help="drainage: design storm duration", parser=FINITE),
    as_json: bool = typer.Option(False, "--json", help="print the plan as JSON"),
) -> None:
    """The impact plan for a pipe (water), a leak (gas) or a design storm (drainage)."""
    from cityloop.core.db import session_scope
    from cityloop.twin import impact, networks

    with session_scope() as session:
        net = networks.get_network(session, name=network)
        plan = impact.plan_for(
            session, network=net, pipe=pipe, junction=junction, lon=lon, lat=lat, leak_kg_s=leak_kg_s,
            rain_mm=rain_mm, hours=hours,
        )  # fmt: skip
    if as_json:
        print(json.dumps(plan, ensure_ascii=False, indent=2, default=str))
        return
    for key, value in plan.items():
        if isinstance(value, list):
            console.print(f"{key}: {len(value)}  {', '.join(str(v) for v in value[:12])}")
        else:
            console.print(f"{key}: {value}")


@twin_app.command("precompute")
@cli_errors
def precompute_cmd(network: str = typer.Option(..., "--network")) -> None:
    """Compute once per network version what impact plans reuse (valve segments, leak signatures)."""
    from cityloop.core.db import session_scope
    from cityloop.twin import impact, networks

    with session_scope() as session:
        net = networks.get_network(session, name=network)
        for kind, seconds in impact.precompute(session, network=net).items():
            console.print(f"{kind}: {seconds:.2f} s")


@twin_app.command("simulate")
@cli_errors
def simulate_cmd(
    scenario: str = typer.Option("normal", "--scenario", help="normal, leak, rainstorm or gas-leak"),
    minutes: int = typer.Option(60, "--minutes", min=1, max=24 * 60, help="simulated minutes, ending now"),
    via: str = typer.Option("db", "--via", help="db (same ingest code, no broker), mqtt or http"),
    broker: str = typer.Option(None, "--broker", help="mqtt://HOST:PORT for --via mqtt"),
    url: str = typer.Option("http://127.0.0.1:8000", "--url", help="server for --via http"),
    token: str = typer.Option(None, "--token", help="operator/admin bearer token for --via http"),
    leak_at: str = typer.Option("153", "--leak-at", help="leak scenario: the junction that leaks"),
    realtime: bool = typer.Option(False, "--realtime", help="one simulated minute per second"),
    run_jobs: bool = typer.Option(True, "--run-jobs/--no-jobs", help="then run the twin worker jobs once"),
) -> None:
    """Feed the demo sensors from the engines (EPANET, SWMM, a gas-leak curve)."""
    from cityloop.config import get_settings
    from cityloop.core.db import session_scope
    from cityloop.twin import simulate

    if scenario not in simulate.SCENARIOS:
        raise fail(f"--scenario must be one of {', '.join(simulate.SCENARIOS)}")
    with session_scope(write=False) as session:
        items = simulate.readings(session, scenario=scenario, minutes=minutes, leak_at=leak_at)
    if via == "mqtt":
        count = simulate.publish_mqtt(items, broker or get_settings().mqtt_broker, realtime=realtime)
    elif via == "http":
        if not token:
            raise fail("--via http needs --token (cityloop tokens create --username operator)")
        count = simulate.publish_http(items, url, token, realtime=realtime)
    elif via == "db":
        count = simulate.store_direct(items)
    else:
        raise fail("--via must be db, mqtt or http")
    console.print(f"{scenario}: {len(items)} readings for {minutes} min sent via {via} ({count})")
    if run_jobs:
        from cityloop.worker.runner import run_once

        for name, done in run_once({"twin.warning_cases", "twin.model_check"}).items():
            console.print(f"{name}: {done}")


# Leak detection (issue 8) lives in twin/leaks; its command joins this group.
twin_app.command("detect-leaks")(leaks_cli.detect_leaks)
