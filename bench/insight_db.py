"""Case intelligence on a real database: what the intake hook adds per report, classifying 10,000 case
texts with a model trained on the closed cases, and the worker's hotspot job over 100,000 cases.

    .venv/bin/python bench/insight_db.py [--db sqlite|postgresql] [--intakes 400] [--cases 100000]

Targets (issue 5): classification + duplicate check add < 20 ms per report at p99; 10,000 messages
classified < 10 s; hotspots over 100,000 cases < 120 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from _cases_common import database, grid_points, percentile, prepare  # noqa: E402

PLACES = [
    "幸福小区",
    "阳光花园",
    "龙湖时代天街",
    "杨家坪步行街",
    "石桥铺转盘",
    "渝州路口",
    "九龙园区",
    "华岩寺",
]
PROBLEMS = {
    "SJ0505": ["机动车停在人行道上", "车辆乱停放堵住消防通道", "门口长期有车乱停"],
    "SJ0508": ["商铺音响外放声音很大", "广场舞噪音扰民", "夜宵店晚上很吵"],
    "SJ0102": ["路边堆放生活垃圾", "垃圾无人清运发臭", "楼下垃圾堆积"],
    "SJ0101": ["楼顶新搭建彩钢棚", "小区内私搭乱建", "违章搭建占用绿地"],
    "SJ0301": ["夜间施工噪音扰民", "工地凌晨还在施工", "施工噪声影响休息"],
}


def bench_intake(url: str, n: int) -> None:
    from cityloop.cases import service
    from cityloop.config import get_settings
    from cityloop.core import audit
    from cityloop.core.db import session_scope
    from cityloop.insight import intake as hook
    from cityloop.insight import registry

    get_settings.cache_clear()
    lons, lats = grid_points(url, 2 * n, seed=5)  # the warm-up repeats the first points
    rng = random.Random(1)
    original = hook.after_intake
    spent: list[float] = []

    def timed(session, **kw):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return original(session, **kw)
        finally:
            spent.append((time.perf_counter() - t) * 1000)

    def run(label: str, k0: int) -> list[float]:
        totals: list[float] = []
        for i in range(n):
            code = rng.choice(list(PROBLEMS))
            text = f"{rng.choice(PLACES)}{rng.choice(PROBLEMS[code])}"
            report = service.NewCase(
                category=code, description=text, lon=float(lons[k0 + i]), lat=float(lats[k0 + i])
            )
            t = time.perf_counter()
            with session_scope(url) as s:
                service.intake(s, actor=audit.Actor("bench"), report=report)
            totals.append((time.perf_counter() - t) * 1000)
        return totals

    service.insight_intake.after_intake = timed  # type: ignore[attr-defined]
    run("warm-up", 0)
    spent.clear()
    totals_rules = run("rules", 0)
    rules_hook = list(spent)
    with session_scope(url) as s:
        t = time.perf_counter()
        row = registry.retrain(s, actor=audit.Actor("bench"), activate=True)
        print(
            f"retrain from closed cases: {time.perf_counter() - t:.1f} s (version {row.version}, "
            f"{row.metrics.get('labelled')} cases, {len(row.classes)} categories)"
        )
    spent.clear()
    run("warm-up", n)  # the first report after a switch loads the version (once per process)
    spent.clear()
    totals_model = run("model", n)
    model_hook = list(spent)
    service.insight_intake.after_intake = original  # type: ignore[attr-defined]
    for label, hooks, totals in (
        ("keyword rules", rules_hook, totals_rules),
        ("trained model", model_hook, totals_model),
    ):
        print(
            f"intake ({label}), {n} reports in-process: hook p50 {percentile(hooks, 50):.2f} ms, "
            f"p99 {percentile(hooks, 99):.2f} ms, max {max(hooks):.1f} ms; whole intake p50 "
            f"{percentile(totals, 50):.1f} ms, p99 {percentile(totals, 99):.1f} ms"
        )


def bench_suggest_alone(url: str, n: int = 2000) -> None:
    """The hook's classification alone, in one open session (no commit noise): per-report CPU cost."""
    from cityloop.core.db import session_scope
    from cityloop.insight import intake

    rng = random.Random(4)
    for label, version in (("trained model", None), ("keyword rules", 0)):
        with session_scope(url) as s:
            if version == 0:
                s.execute(__import__("sqlalchemy").text("UPDATE insight_models SET active = false"))
                s.commit()
            intake.reset()
            intake.suggest(s, text="warm up")
            times = []
            for _ in range(n):
                code = rng.choice(list(PROBLEMS))
                text = f"{rng.choice(PLACES)}{rng.choice(PROBLEMS[code])}"
                t = time.perf_counter()
                intake.suggest(s, text=text)
                times.append((time.perf_counter() - t) * 1000)
            s.rollback()
        print(
            f"suggest alone ({label}), {n} calls: p50 {percentile(times, 50):.2f} ms, "
            f"p99 {percentile(times, 99):.2f} ms"
        )


def bench_classify(url: str) -> None:
    from cityloop.core.db import session_scope
    from cityloop.insight import intake

    rng = random.Random(2)
    texts = []
    for _ in range(10_000):
        code = rng.choice(list(PROBLEMS))
        texts.append(
            f"{rng.choice(PLACES)}{rng.choice(PROBLEMS[code])}，希望有关部门尽快处理。" * rng.randint(1, 4)
        )
    with session_scope(url, write=False) as s:
        intake.reset()
        model, version, _ = intake.classifier(s)
    assert model is not None
    t = time.perf_counter()
    model.predict(texts)
    print(
        f"classify 10,000 messages with version {version} ({model.kind}): "
        f"{time.perf_counter() - t:.2f} s (target < 10 s)"
    )


def bench_hotspots(url: str, total: int) -> None:
    from sqlalchemy import func, select, text

    from cityloop.cases.models import Case, Category
    from cityloop.core.clock import now
    from cityloop.core.db import session_scope
    from cityloop.insight import service

    with session_scope(url) as s:
        have = int(s.scalar(select(func.count()).select_from(Case)) or 0)
        cats = {c.code: c.id for c in s.execute(select(Category)).scalars()}
        template = s.execute(text("SELECT * FROM cases WHERE state = 'closed' LIMIT 1")).mappings().one()
    need = max(0, total - have)
    lons, lats = grid_points(url, need, seed=9)
    rng = random.Random(3)
    at = now()
    # Hot places: 300 (place, problem) pairs with many reports each, in a background of scattered ones.
    hot = [(rng.randrange(len(lons)), rng.choice(list(PROBLEMS))) for _ in range(300)]
    rows = []
    for i in range(need):
        if rng.random() < 0.2:
            k, code = rng.choice(hot)
            lon, lat = float(lons[k]) + rng.uniform(-2e-4, 2e-4), float(lats[k]) + rng.uniform(-2e-4, 2e-4)
            desc = f"{PLACES[k % len(PLACES)]}{rng.choice(PROBLEMS[code])}"
        else:
            code = rng.choice(list(PROBLEMS))
            lon, lat = float(lons[i]), float(lats[i])
            desc = f"{rng.choice(PROBLEMS[code])}，编号{i}"
        row = dict(template)
        row.pop("id")
        row.update(
            tracking_no=f"BENCH-{i:07d}",
            category_id=cats[code],
            lon=lon,
            lat=lat,
            h3_cell=None,
            description=desc,
            address=None,
            reported_at=at - timedelta(minutes=rng.randrange(0, 170 * 24 * 60)),
            parent_id=None,
            state="closed",
        )
        rows.append(row)
    t = time.perf_counter()
    with session_scope(url) as s:
        cols = list(rows[0]) if rows else []
        if rows:
            stmt = text(f"INSERT INTO cases ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})")
            for start in range(0, len(rows), 20_000):
                s.execute(stmt, rows[start : start + 20_000])
    print(f"loaded {need} synthetic cases in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    with session_scope(url) as s:
        found = service.refresh_hotspots(s)
        proposals = s.scalar(text("SELECT count(*) FROM insight_proposals"))
    print(
        f"hotspot job over {max(total, have)} cases ({service.get_settings().insight_hotspot_days} days): "
        f"{time.perf_counter() - t:.1f} s, {found} hotspots, {proposals} proposals (target < 120 s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--intakes", type=int, default=400)
    parser.add_argument("--cases", type=int, default=100_000)
    args = parser.parse_args()
    url = database(args.db, "insight")
    t = time.perf_counter()
    prepare(url)
    print(f"{args.db}: demo district ready in {time.perf_counter() - t:.0f} s")
    import os

    os.environ["CITYLOOP_DATABASE_URL"] = url
    bench_intake(url, args.intakes)
    bench_classify(url)
    bench_suggest_alone(url)
    if args.cases:
        bench_hotspots(url, args.cases)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
