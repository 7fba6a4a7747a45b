"""A million cases: bulk load through `cityloop cases import`, then time the queue API, the queue map's
GeoJSON (points or grid clusters of every matching case), the indicators (JSON, Excel, the 12-month
trend) and the indicator dashboard page.

    python bench/cases_queue.py                     # SQLite in a temp dir, 1,000,000 cases
    python bench/cases_queue.py --db postgresql     # PostgreSQL (CITYLOOP_BENCH_PG=postgresql+psycopg://…)
    CITYLOOP_BENCH_CASES=100000 python bench/cases_queue.py
    python bench/cases_queue.py --load-only [--name NAME]   # load once, print the URL …
    python bench/cases_queue.py --reuse URL                 # … and time it as often as needed

Targets (issue 3): import ≥ 10,000 cases/s; the queue's first page with filters, the map and the
indicator query each < 500 ms. Times below are medians of 5 runs (after one warm-up run), with the
slowest run shown too.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import tempfile
import time
from datetime import UTC
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
    # What the worker's `cases.rollup` job does every few minutes in a running district: the long-range
    # indicators read these monthly roll-ups (without them 12 months are counted live: seconds).
    started = time.perf_counter()
    subprocess.run([PY, "-m", "cityloop", "cases", "rollup"], cwd=ROOT, env=env_for(url), check=True)
    print(f"monthly roll-ups (`cityloop cases rollup`): {time.perf_counter() - started:.1f} s", flush=True)
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
    root = f"http://127.0.0.1:{port}"
    base = f"{root}/api/v1/cases"
    dispatcher = {"Authorization": f"Bearer {token(url, 'dispatcher')}"}
    street = {"Authorization": f"Bearer {token(url, 'street2')}"}
    supervisor = {"Authorization": f"Bearer {token(url, 'supervisor')}"}
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
    # The queue map (/cases/map): every case matching the filters in the box, clustered per grid cell.
    district = "106.2,29.2,106.8,29.8"  # the whole demo district with a margin
    lon, lat = 106.505, 29.505
    street_box = f"{lon - 0.02},{lat - 0.012},{lon + 0.02},{lat + 0.012}"  # ~ a 900×600 px view at zoom 15
    map_calls = [
        ("dispatcher, open (the queue's default), district, zoom 11", dispatcher,
         {"bbox": district, "zoom": 11, "state": "open"}),
        ("dispatcher, all states (every case), district, zoom 11", dispatcher,
         {"bbox": district, "zoom": 11, "state": "all"}),
        ("dispatcher, all states, district, zoom 12", dispatcher,
         {"bbox": district, "zoom": 12, "state": "all"}),
        ("dispatcher, closed, one category, district, zoom 11", dispatcher,
         {"bbox": district, "zoom": 11, "state": "closed", "category": "SJ0102"}),
        ("dispatcher, all states, hotline, one street, zoom 11", dispatcher,
         {"bbox": district, "zoom": 11, "state": "all", "street": HJP, "source": "hotline_12345"}),
        ("dispatcher, overdue, district, zoom 11", dispatcher,
         {"bbox": district, "zoom": 11, "overdue": "true"}),
        ("dispatcher, all states, street-level view, zoom 15", dispatcher,
         {"bbox": street_box, "zoom": 15, "state": "all"}),
        ("dispatcher, open, street-level view, zoom 15", dispatcher,
         {"bbox": street_box, "zoom": 15, "state": "open"}),
        ("street (scoped), all states, district, zoom 11", street,
         {"bbox": district, "zoom": 11, "state": "all"}),
    ]  # fmt: skip
    last_month = _last_month()
    this_month = {"period": "month"}
    year = {"period": "month", "from": _months_back(11), "to": _today().isoformat()}
    week = {"period": "day", "from": _days_back(6), "to": _today().isoformat()}
    indicator_calls = [
        ("API, last month, by unit", f"{base}/indicators", supervisor, {**last_month, "group_by": "unit"}),
        (
            "API, last month, by street/town",
            f"{base}/indicators",
            supervisor,
            {**last_month, "group_by": "street"},
        ),
        ("API, this month, by unit", f"{base}/indicators", supervisor, this_month),
        ("API, last month, street (scoped)", f"{base}/indicators", street, last_month),
        ("API, one week, by day", f"{base}/indicators", supervisor, week),
        ("Excel, last month (both groupings)", f"{base}/indicators.xlsx", supervisor, last_month),
        ("trend, 12 months (the dashboard's lines)", f"{base}/indicators/trend", supervisor, year),
        ("API, 12 months, by unit", f"{base}/indicators", supervisor, {**year, "group_by": "unit"}),
    ]
    try:
        with httpx.Client(timeout=120) as client:
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
            for label, headers, params in map_calls:

                def draw(h=headers, p=params):
                    r = client.get(f"{base}/map", headers=h, params=p)
                    r.raise_for_status()
                    return r

                med, worst = timed(draw)
                body = draw().json()
                print(f"map · {label}: median {med * 1000:.0f} ms, max {worst * 1000:.0f} ms", end="")
                print(f" ({body['kind']}: {len(body['features']):,} features, {body['total']:,} cases)")
            for label, target, headers, params in indicator_calls:

                def call(t=target, h=headers, p=params):
                    r = client.get(t, headers=h, params=p)
                    r.raise_for_status()
                    return r

                med, worst = timed(call, runs=3)
                body = call()
                size = body.json()["total"]["counts"]["reported"] if target.endswith("/indicators") else None
                extra = f" ({size:,} cases)" if size is not None else ""
                print(f"indicators · {label}: median {med * 1000:.0f} ms, max {worst * 1000:.0f} ms{extra}")
            page = _signed_in(root, "supervisor")
            try:

                def dashboard():
                    r = page.get(f"{root}/cases/indicators", params=last_month)
                    r.raise_for_status()
                    return r

                med, worst = timed(dashboard, runs=3)
                label = "indicators · dashboard page, last month"
                print(f"{label}: median {med * 1000:.0f} ms, max {worst * 1000:.0f} ms")
            finally:
                page.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"load while measuring: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} cores")
    return 0


def _today():
    from datetime import datetime, timedelta

    return (datetime.now(UTC) + timedelta(hours=8)).date()


def _days_back(n: int) -> str:
    from datetime import timedelta

    return (_today() - timedelta(days=n)).isoformat()


def _months_back(n: int) -> str:
    d = _today()
    y, m = d.year, d.month - n
    while m < 1:
        y, m = y - 1, m + 12
    return f"{y:04d}-{m:02d}"


def _last_month() -> dict[str, str]:
    month = _months_back(1)
    return {"period": "month", "from": month, "to": month}


def _signed_in(root: str, username: str) -> httpx.Client:
    import re

    c = httpx.Client(timeout=120)
    form = c.get(f"{root}/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    r = c.post(
        f"{root}/login",
        data={"username": username, "password": "cityloop-demo", "csrf": csrf, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return c


if __name__ == "__main__":
    raise SystemExit(main())
