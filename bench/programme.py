"""Benchmark of the ten actions at scale: 10 actions × 2,000 tasks × 10 milestones and a year of
monthly progress reports, on SQLite and (when reachable) PostgreSQL.

Prints: load time, the battle-map data endpoint (all 20,000 tasks, one action's 2,000, one street),
the evaluation page and API, and a full supervision scan (first run, which colours every task and
issues the notices, and a steady-state second run). Targets from the issue: map data and evaluation
page < 300 ms, a full scan < 5 s.

    .venv/bin/python bench/programme.py                      # both databases
    CITYLOOP_BENCH_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/ .venv/bin/python bench/programme.py
"""

from __future__ import annotations

import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

ACTIONS, TASKS_PER_ACTION, MILESTONES = 10, 2000, 10
PG_BASE = os.environ.get("CITYLOOP_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")
PG_NAME = "cityloop_bench_programme"
# The benchmark looks at the programme at the end of September: most tasks open, milestones half done.
TODAY = datetime(2026, 9, 30, 2, tzinfo=UTC)


def _pg_admin(sql: str) -> None:
    import psycopg

    base = PG_BASE.replace("postgresql+psycopg://", "postgresql://").rstrip("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql)


ONLY = os.environ.get("CITYLOOP_BENCH_ONLY", "")  # "sqlite" or "postgresql" to run one of them
KEEP = os.environ.get("CITYLOOP_BENCH_KEEP") == "1"  # keep the PostgreSQL database for inspection


SCRATCH = Path(tempfile.gettempdir()) / "cityloop-bench-programme"


def databases() -> list[tuple[str, str]]:
    out = []
    if ONLY != "postgresql":
        shutil.rmtree(SCRATCH, ignore_errors=True)
        SCRATCH.mkdir(parents=True)
        out.append(("sqlite", f"sqlite:///{SCRATCH / 'bench.db'}"))
    if ONLY == "sqlite":
        return out
    try:
        _pg_admin(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
        _pg_admin(f'CREATE DATABASE "{PG_NAME}"')
        out.append(("postgresql", PG_BASE.rstrip("/") + f"/{PG_NAME}"))
    except Exception as exc:  # no server here: say so and bench SQLite only
        print(f"postgresql: skipped ({type(exc).__name__}: {exc})")
    return out


def generate(session: Any, rng: random.Random) -> None:
    """The programme, ten actions, and 20,000 tasks with milestones and monthly reports (bulk)."""
    from sqlalchemy import select

    from cityloop.core.audit import Actor
    from cityloop.org.models import Unit, UnitKind
    from cityloop.programme import bulk, service
    from cityloop.programme.demo_data import ACTIONS as SPECS

    actor = Actor("bench")
    units = {u.code: u for u in session.execute(select(Unit)).scalars()}
    areas = [u for u in units.values() if u.kind in (UnitKind.street, UnitKind.town) and u.geometry]
    depts = [u for u in units.values() if u.kind == UnitKind.department]
    programme = service.create_programme(
        session, actor=actor, code="bench", name="bench", year=2026, owner=units["gtf"]
    )
    person_ids = bulk.people(
        session, actor=actor, rows=[{"name": f"责任人{u.code}", "unit_id": u.id} for u in areas + depts]
    )
    people = dict(zip([u.id for u in areas + depts], person_ids, strict=True))
    boxes = {u.id: _bounds(u.geometry) for u in areas}
    today = TODAY.date()
    for a, spec in enumerate(SPECS[:ACTIONS]):
        action = service.create_action(
            session,
            actor=actor,
            programme=programme,
            data=service.ActionInput(code=spec.code, name=spec.name, lead_unit=units[spec.lead], seq=a),
        )
        ids = (programme.id, action.id)
        rows = [
            _task(rng, *ids, f"{spec.code}-{i:05d}", areas, depts, people, boxes, today)
            for i in range(TASKS_PER_ACTION)
        ]
        bulk.tasks(session, actor=actor, programme_id=programme.id, rows=rows)
        session.flush()


def _bounds(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    from shapely.geometry import shape

    g = shape(geometry)
    c = g.representative_point()
    return c.x - 0.01, c.y - 0.01, c.x + 0.01, c.y + 0.01


def _task(rng, programme_id, action_id, code, areas, depts, people, boxes, today) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    unit = rng.choice(areas) if rng.random() < 0.8 else rng.choice(depts)
    box = boxes.get(unit.id) or boxes[rng.choice(areas).id]
    lon, lat = rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])
    start = date(2026, 1, 1) + timedelta(days=rng.randint(0, 60))
    due = date(2026, 7, 1) + timedelta(days=rng.randint(0, 180))
    span = (due - start).days
    # Days late: most units deliver on time, some a little late, a few far behind.
    lag = rng.choices((0, rng.randint(3, 10), rng.randint(30, 90)), weights=(75, 15, 10))[0]
    milestones, reports = [], []
    for k in range(1, MILESTONES + 1):
        day = start + timedelta(days=round(span * k / MILESTONES))
        done = day + timedelta(days=lag) if day + timedelta(days=lag) <= today else None
        milestones.append(
            {"seq": k, "name": f"节点{k}", "due_on": day, "planned_pct": 10.0 * k, "done_on": done}
        )
    # Monthly reports climbing to what the milestones done so far say.
    final = 10.0 * sum(1 for m in milestones if m["done_on"])
    # Done and past its date: checked and accepted, or (most of them) still awaiting the check.
    finished = final == 100 and due <= today and rng.random() < 0.4
    submitted = final == 100 and not finished
    checked = datetime.combine(due, datetime.min.time(), tzinfo=UTC) + timedelta(days=5)
    for month in range(1, 12):
        value = round(final * month / 11, 1)
        at = datetime(2026, month, 25, 2, tzinfo=UTC)
        reports.append(
            {
                "reported_at": at,
                "reporter_name": "bench",
                "value": value,
                "progress_pct": value,
                "narrative": "月报",
            }
        )
    return {
        "programme_id": programme_id,
        "action_id": action_id,
        "code": code,
        "name": f"任务{code}",
        "indicator": "完成量",
        "indicator_unit": "%",
        "baseline": 0.0,
        "target_value": 100.0,
        "current_value": final,
        "progress_pct": final,
        "responsible_unit_id": unit.id,
        "responsible_person_id": people[unit.id],
        "place": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
        "place_kind": "Point",
        "lon": lon,
        "lat": lat,
        "starts_on": start,
        "due_on": due,
        "state": "accepted" if finished else "submitted" if submitted else "in_progress",
        "status": "done" if finished else "green",
        "status_reason": "accepted" if finished else None,
        "returned_count": 0,
        "last_report_at": reports[-1]["reported_at"],
        "milestones": milestones,
        "reports": reports,
        "acceptances": [{"checked_at": checked, "checker_name": "bench", "passed": True, "results": []}]
        if finished
        else [],
    }


def timed(fn: Any, runs: int = 5) -> tuple[str, Any]:
    """Median wall time in ms over ``runs`` (after one warm-up), with this process's CPU time
    beside it: on a shared, loaded machine the wall time mostly measures the other processes."""
    result = fn()
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return f"{statistics.median(wall):.0f} ms (cpu {statistics.median(cpu):.0f} ms)", result


def bench(label: str, url: str) -> None:
    os.environ["CITYLOOP_DATABASE_URL"] = url
    from cityloop.config import get_settings
    from cityloop.core import db as core_db
    from cityloop.core.clock import FrozenClock, set_clock

    get_settings.cache_clear()
    core_db.reset_engines()
    from fastapi.testclient import TestClient

    from cityloop.app import create_app
    from cityloop.core.audit import Actor
    from cityloop.core.migrate import upgrade
    from cityloop.org import demo as org_demo
    from cityloop.org import service as org
    from cityloop.programme import bulk, supervision

    set_clock(FrozenClock(TODAY))
    upgrade(url)
    t = time.perf_counter()
    with core_db.session_scope(url) as s:
        org_demo.seed(s)
    org_s = time.perf_counter() - t
    t = time.perf_counter()
    with core_db.session_scope(url) as s:
        generate(s, random.Random(7))
    load_s = time.perf_counter() - t
    with core_db.session_scope(url) as s:
        bulk.analyze(s)
    n = ACTIONS * TASKS_PER_ACTION
    print(f"[{label}] org demo {org_s:.1f} s; bulk load {n} tasks, {n * MILESTONES} milestones, ", end="")
    print(f"{n * 11} reports: {load_s:.1f} s")
    for run in ("first", "second"):
        t, c = time.perf_counter(), time.process_time()
        with core_db.session_scope(url) as s:
            result = supervision.scan(s)
        took = f"{time.perf_counter() - t:.2f} s (cpu here {time.process_time() - c:.2f} s)"
        print(f"[{label}] supervision scan ({run}): {took}  {result.as_dict()}")
    with core_db.session_scope(url) as s:
        token = org.create_token(s, actor=Actor("bench"), user=org.get_user(s, username="supervisor"))
    client = TestClient(create_app())
    h = {"Authorization": f"Bearer {token}"}
    # The charts keep a per-process summary: its first build (process start) and an update after one
    # task changed are what a user waits for at worst; the timed runs below hit it warm.
    from sqlalchemy import text

    from cityloop.programme import battlemap

    battlemap.clear_summaries()
    t = time.perf_counter()
    assert client.get("/api/v1/programme/stats?programme=bench", headers=h).status_code == 200
    first_ms = (time.perf_counter() - t) * 1000
    print(f"[{label}] stats, first call in the process (summary built): {first_ms:.0f} ms")
    with core_db.session_scope(url) as s:
        s.execute(text("UPDATE programme_tasks SET version = version + 1 WHERE id IN (101, 102, 103)"))
    t = time.perf_counter()
    assert client.get("/api/v1/programme/stats?programme=bench", headers=h).status_code == 200
    print(
        f"[{label}] stats after 3 tasks changed (summary updated): {(time.perf_counter() - t) * 1000:.0f} ms"
    )
    for name, path in (
        ("map data, all 20,000 tasks (clusters)", "/api/v1/programme/map?programme=bench"),
        ("map data, one action's 2,000 tasks", "/api/v1/programme/map?programme=bench&action=CWZL"),
        ("map data, one street", "/api/v1/programme/map?programme=bench&unit=500107001000"),
        ("map data, all 20,000 as points (forced)", "/api/v1/programme/map?programme=bench&max_points=50000"),
        ("gantt rows", "/api/v1/programme/map/timeline?programme=bench"),
        ("stats (charts), warm", "/api/v1/programme/stats?programme=bench"),
        ("stats (charts) of one action, warm", "/api/v1/programme/stats?programme=bench&action=CWZL"),
        ("evaluation API, counted live", "/api/v1/programme/evaluation?programme=bench&fresh=true"),
    ):
        ms, r = timed(lambda path=path: client.get(path, headers=h))
        assert r.status_code == 200, r.text
        print(f"[{label}] {name}: {ms}, {len(r.content) / 1024:.0f} KiB")
    t = time.perf_counter()
    with core_db.session_scope(url) as s:
        from cityloop.programme.jobs import evaluation_snapshot

        rows = evaluation_snapshot(s)
    print(f"[{label}] evaluation snapshot job (2 months): {time.perf_counter() - t:.2f} s, {rows} rows")
    ms, r = timed(lambda: client.get("/api/v1/programme/evaluation?programme=bench", headers=h))
    print(f"[{label}] evaluation API, from the snapshot: {ms}")
    login = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": "supervisor", "password": "cityloop-demo", "csrf": csrf})
    _bench_page(client, label)
    core_db.reset_engines()


def _bench_page(client: Any, label: str) -> None:
    ms, r = timed(lambda: client.get("/programme/evaluation"))
    assert r.status_code == 200 and "红榜" in r.text and "数据计算于" in r.text, r.status_code
    print(f"[{label}] evaluation page (红黑榜, from the snapshot): {ms}")
    ms, r = timed(lambda: client.get("/programme/map"))
    print(f"[{label}] battle map page (HTML shell): {ms}")


def main() -> int:
    targets = databases()
    try:
        for label, url in targets:
            bench(label, url)
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)
        if any(label == "postgresql" for label, _ in targets) and not KEEP:
            _pg_admin(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
