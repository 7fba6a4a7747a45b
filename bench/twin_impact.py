"""Impact plan for a pipe of L-Town (782 junctions) after a one-time precompute, on both databases.

    python bench/twin_impact.py [--db sqlite|postgresql|both] [--pipes 20]

Imports ../shared/data/twin/L-TOWN.inp (schematic placement), registers the BattLeDIM scenario's
33 pressure sensors, runs the precompute (valve segments of a generated strategic N-1 layer and the
leak signatures at the sensors) and then plans for random pipes, each in a fresh session with the
plan caches of the process warm, as a server would. Also times a leak-candidate ranking.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import _twin_common as common

SHARED = common.ROOT.parent / "shared" / "data" / "twin"


def pressure_sensors() -> list[str]:
    lines = (SHARED / "ltown_2018_scenario.yalm").read_text().splitlines()
    start = lines.index("pressure_sensors:")
    out = []
    for line in lines[start + 1 :]:
        if not line.startswith("- "):
            break
        out.append(line[2:].strip())
    return out


def run(dialect: str, pipes: int) -> None:
    from sqlalchemy import select

    from cityloop.core.audit import Actor
    from cityloop.core.db import session_scope
    from cityloop.org import service as org
    from cityloop.twin import impact, networks, service
    from cityloop.twin.models import Element, Network, Precompute
    from cityloop.twin.placement import Placement

    name = "cityloop_bench_twin_impact"
    url = common.fresh_database(dialect, name)
    try:
        common.operator_unit(url)
        started = time.perf_counter()
        with session_scope(url) as s:
            data = (SHARED / "L-TOWN.inp").read_bytes()
            net = networks.import_network(
                s, actor=Actor("bench"), kind="water", name="ltown", data=data,
                file_name="L-TOWN.inp", unit=org.find_unit(s, ref="util-water"),
                placement=Placement.from_options(crs=None, origin=(106.45, 29.45), scale=1.0),
            )  # fmt: skip
            for node in pressure_sensors():
                service.create_sensor(
                    s, actor=Actor("bench"), code=f"LT-{node}", kind="pressure", network=net, asset_ref=node
                )
        print(f"[{dialect}] import L-Town + 33 sensors: {time.perf_counter() - started:.2f} s", flush=True)
        with session_scope(url) as s:
            net = s.scalar(select(Network).where(Network.name == "ltown"))
            timings = impact.precompute(s, network=net)
        with session_scope(url, write=False) as s:
            stored = {p.kind.split(":")[0]: p.seconds for p in s.scalars(select(Precompute))}
        print(
            f"[{dialect}] precompute: valve segments {stored.get('valve_segments', 0):.2f} s "
            f"({net.summary['valves']} generated valves), "
            f"leak signatures {stored.get('leak_signatures', 0):.2f} s "
            f"(782 junction leaks × 33 sensors); total {sum(timings.values()):.2f} s",
            flush=True,
        )
        with session_scope(url, write=False) as s:
            refs = s.scalars(
                select(Element.ref).where(Element.category == "link", Element.type == "pipe")
            ).all()
        rng = random.Random(7)
        times, customers, valves = [], [], []
        for pipe in rng.sample(list(refs), pipes):
            t = time.perf_counter()
            with session_scope(url) as s:
                net = s.scalar(select(Network).where(Network.name == "ltown"))
                plan = impact.water_plan(s, network=net, pipe=pipe)
            times.append(time.perf_counter() - t)
            customers.append(len(plan["customers_cut_off"]))
            valves.append(len(plan["valves"]))
        impact._topologies.clear()
        t = time.perf_counter()
        with session_scope(url) as s:
            net = s.scalar(select(Network).where(Network.name == "ltown"))
            impact.water_plan(s, network=net, pipe=refs[0])
        cold = time.perf_counter() - t
        print(
            f"[{dialect}] pipe impact plan over {pipes} random pipes: mean {statistics.mean(times):.3f} s, "
            f"max {max(times):.3f} s; first plan after a process restart (topology reload) {cold:.3f} s; "
            f"valves to close {min(valves)}–{max(valves)}, "
            f"customers cut off {min(customers)}–{max(customers)}",
            flush=True,
        )
    finally:
        common.drop_database(dialect, name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="both", choices=["sqlite", "postgresql", "both"])
    ap.add_argument("--pipes", type=int, default=20)
    args = ap.parse_args()
    if not (SHARED / "L-TOWN.inp").exists():
        print("needs ../shared/data/twin/L-TOWN.inp; skipped")
        return
    for dialect in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        run(dialect, args.pipes)


if __name__ == "__main__":
    main()
