"""A million cases: bulk load through `cityloop cases import`, then time the queue API and an
indicator-style aggregate.

    python bench/cases_queue.py                     # SQLite in a temp dir, 1,000,000 cases
    python bench/cases_queue.py --db postgresql     # PostgreSQL (CITYLOOP_BENCH_PG=postgresql+psycopg://…)
    CITYLOOP_BENCH_CASES=100000 python bench/cases_queue.py

Targets (issue 3): import ≥ 10,000 cases/s; the queue's first page with filters and the indicator query
each < 500 ms. Times below are medians of 5 runs (after one warm-up run), with the slowest run shown too.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from _cases_common import PY, ROOT, database, env_for, free_port, grid_points, prepare, start_server, token

CATEGORIES = [
    "SJ0102",
    "SJ0104",
    "SJ0505",
    "SJ0501",
    "BJ0118",
    "BJ0101",
    "SJ0110",
    "SJ0201",
    "SJ0302",
    "BJ0305",
    "SJ0402",
    "SJ0116",
    "BJ0210",
    "SJ0513",
    "SJ0107",
    "BJ0402",
]
SOURCES = ["hotline_12345", "inspector", "app", "web", "enforcement", "sensor", "video"]
SOURCE_P = [0.3, 0.3, 0.12, 0.06, 0.12, 0.05, 0.05]
HJP = "500107002000"


def _iso(seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds (NaN = none) → ISO 8601 UTC strings ('' = none), vectorised."""
    out = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s", timezone="UTC")
    out[np.isnan(seconds)] = ""
    return out


def generate(path: Path, url: str, n: int) -> None:
    """A year of cases: mostly closed, some open in every state, realistic step durations."""
    rng = np.random.default_rng(42)
    lons, lats = grid_points(url, n, seed=3)
    now = time.time()
    reported = now - rng.uniform(0, 365 * 86400, n)
    state = rng.choice(
        ["closed", "voided", "reported", "registered", "dispatched", "handling", "feedback", "verified"],
        p=[0.86, 0.03, 0.01, 0.01, 0.02, 0.05, 0.01, 0.01],
        size=n,
    )
    # Open cases are recent (a backlog of days, not of the whole year), except a few stuck ones.
    recent = reported > now - 3 * 86400
    week = reported > now - 7 * 86400
    stuck = rng.random(n) < 0.003
    state[(~recent) & np.isin(state, ["reported", "registered", "dispatched"])] = "closed"
    state[(~week) & (~stuck) & np.isin(state, ["handling", "feedback", "verified"])] = "closed"
    stage = {
        "reported": 0,
        "registered": 1,
        "dispatched": 2,
        "handling": 3,
        "feedback": 4,
        "verified": 5,
        "closed": 6,
        "voided": -1,
    }
    level = np.vectorize(stage.get)(state)
    t_reg = reported + rng.exponential(900, n)
    t_dis = t_reg + rng.exponential(1200, n)
    t_acc = t_dis + rng.exponential(1800, n)
    t_fb = t_acc + rng.exponential(6 * 3600, n)
    t_ver = t_fb + rng.exponential(4 * 3600, n)
    t_clo = t_ver + rng.exponential(1800, n)
    nan = np.full(n, np.nan)
    cols = {
        "registered_at": np.where(level >= 1, t_reg, nan),
        "dispatched_at": np.where(level >= 2, t_dis, nan),
        "accepted_at": np.where(level >= 3, t_acc, nan),
        "feedback_at": np.where(level >= 4, t_fb, nan),
        "verified_at": np.where(level >= 5, t_ver, nan),
        "closed_at": np.where(level >= 6, t_clo, nan),
        "voided_at": np.where(level == -1, t_reg, nan),
    }
    iso = {k: _iso(v) for k, v in cols.items()}
    rep = _iso(reported)
    cats = rng.choice(CATEGORIES, size=n)
    srcs = rng.choice(SOURCES, p=SOURCE_P, size=n)
    rework = (rng.random(n) < 0.06).astype(int) * (level >= 4)
    rated = (level == 6) & (rng.random(n) < 0.5)
    scores = rng.choice(["satisfied", "basically_satisfied", "dissatisfied"], p=[0.8, 0.13, 0.07], size=n)
    columns = [
        "category",
        "lon",
        "lat",
        "reported_at",
        "state",
        "source",
        "description",
        *cols,
        "rework_count",
        "rating",
    ]
    ratings = np.where(rated, scores, "")
    # Python lists, not numpy scalars: indexing numpy arrays row by row is the slow part of writing a CSV.
    fields = [
        cats,
        lons,
        lats,
        rep,
        state,
        srcs,
        np.full(n, "批量导入的历史案件"),
        *iso.values(),
        rework,
        ratings,
    ]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        w.writerows(zip(*(f.tolist() for f in fields), strict=True))


def timed(fn, runs: int = 5) -> tuple[float, float]:
    fn()  # warm-up (caches, first connection)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


# 按期处置率, 结案率, 返工率, 满意率 per responsible unit for cases dispatched in one month.
INDICATORS = """
SELECT unit_id,
       COUNT(*) AS dispatched,
       SUM(CASE WHEN feedback_at <= handle_due_at THEN 1 ELSE 0 END) AS on_time,
       SUM(CASE WHEN state = 'closed' THEN 1 ELSE 0 END) AS closed,
       SUM(CASE WHEN rework_count > 0 THEN 1 ELSE 0 END) AS reworked,
       SUM(CASE WHEN rating IN ('satisfied', 'basically_satisfied') THEN 1 ELSE 0 END) AS satisfied,
       COUNT(rating) AS rated
FROM cases
WHERE dispatched_at >= :start AND dispatched_at < :end
GROUP BY unit_id
"""


def load(db: str, name: str, n: int) -> str:
    url = database(db, name)
    print(f"database: {db} (fresh, demo district seeded)", flush=True)
    prepare(url)
    folder = Path(tempfile.mkdtemp(prefix="cityloop-queue-"))
    csv_path = folder / "cases.csv"
    started = time.perf_counter()
    generate(csv_path, url, n)
    print(f"generated {n:,} cases as CSV in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    subprocess.run(
        [PY, "-m", "cityloop", "cases", "import", str(csv_path)], cwd=ROOT, env=env_for(url), check=True
    )
    took = time.perf_counter() - started
    print(f"import (whole command, process start included): {n / took:,.0f} cases/s ({took:.1f} s)")
    csv_path.unlink()
    return url


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--db", choices=["sqlite", "postgresql"], default=os.environ.get("CITYLOOP_BENCH_DB", "sqlite")
    )
    parser.add_argument("--cases", type=int, default=int(os.environ.get("CITYLOOP_BENCH_CASES", "1000000")))
    parser.add_argument("--name", default="queue", help="PostgreSQL database suffix (cityloop_bench_NAME)")
    parser.add_argument("--reuse", metavar="URL", help="time an already loaded database (skips the load)")
    parser.add_argument("--load-only", action="store_true", help="load, print the URL and stop")
    args = parser.parse_args()
    if args.reuse:
        url = args.reuse
        subprocess.run([PY, "-m", "cityloop", "init"], cwd=ROOT, env=env_for(url), check=True)
        print(f"database: {url} (reused)", flush=True)
    else:
        url = load(args.db, args.name, args.cases)
    if args.load_only:
        print(url)
        return 0

    port = free_port()
    server = start_server(url, port)
    base = f"http://127.0.0.1:{port}/api/v1/cases"
    dispatcher = {"Authorization": f"Bearer {token(url, 'dispatcher')}"}
    street = {"Authorization": f"Bearer {token(url, 'street2')}"}
    queries = [
        ("dispatcher, awaiting registration", dispatcher, {"state": "reported"}),
        ("dispatcher, open cases of one category", dispatcher, {"state": "open", "category": "SJ0102"}),
        ("dispatcher, overdue", dispatcher, {"overdue": "true"}),
        ("dispatcher, one street, hotline", dispatcher, {"street": HJP, "source": "hotline_12345"}),
        ("dispatcher, map box, open", dispatcher, {"bbox": "106.45,29.45,106.50,29.50", "state": "open"}),
        ("dispatcher, tracking number", dispatcher, {"q": "JLP-2026-000777"}),
        ("street (scoped), handling, by deadline", street, {"state": "handling", "sort": "due_at"}),
        ("street (scoped), everything", street, {}),
    ]
    try:
        with httpx.Client(timeout=60) as client:
            for label, headers, params in queries:

                def run(h=headers, p=params):
                    r = client.get(base, headers=h, params={**p, "page_size": 50})
                    r.raise_for_status()
                    return r

                med, worst = timed(run)
                total = run().json()["total"]
                more = "+" if total >= 10000 else ""
                print(f"queue · {label}: median {med * 1000:.0f} ms, max {worst * 1000:.0f} ms", end="")
                print(f" (matches: {total:,}{more})")
    finally:
        server.terminate()
        server.wait(timeout=30)

    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    end = time.time()
    params = {"start": _pydt(end - 30 * 86400, args.db), "end": _pydt(end, args.db)}
    with engine.connect() as conn:
        med, worst = timed(lambda: conn.execute(text(INDICATORS), params).all())
        rows = conn.execute(text(INDICATORS), params).all()
    label = f"indicators · one month by unit ({len(rows)} units)"
    print(f"{label}: median {med * 1000:.0f} ms, max {worst * 1000:.0f} ms")
    engine.dispose()
    return 0


def _pydt(seconds: float, db: str):
    from datetime import UTC, datetime

    value = datetime.fromtimestamp(seconds, UTC)
    return value.replace(tzinfo=None) if db == "sqlite" else value  # SQLite stores naive UTC


if __name__ == "__main__":
    raise SystemExit(main())
