"""The case pages with a million cases: the dispatcher's queue (filters and map), a street's inbox, the
overdue list with escalations, and one case's page, each signed in through the login form like a browser.

    python bench/cases_pages.py                     # SQLite in a temp dir, 1,000,000 cases
    python bench/cases_pages.py --db postgresql     # PostgreSQL (CITYLOOP_BENCH_PG=postgresql+psycopg://…)
    CITYLOOP_BENCH_CASES=100000 python bench/cases_pages.py

Target (issue 3): each page < 500 ms. The cases come from the same generator and bulk import as
``cases_queue.py``. Times are medians of 5 runs after a warm-up, the slowest run shown too; each is the
whole HTTP request (rendering included), measured from the client.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from _cases_common import PY, ROOT, database, env_for, free_port, prepare, start_server
from cases_queue import HJP, generate, timed

PASSWORD = "cityloop-demo"


def signed_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60, headers={"Accept": "text/html"})
    form = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": csrf.group(1)})
    if r.status_code not in (200, 303):
        raise SystemExit(f"sign-in of {username} failed: {r.status_code}")
    return client


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--db", choices=["sqlite", "postgresql"], default=os.environ.get("CITYLOOP_BENCH_DB", "sqlite")
    )
    parser.add_argument("--cases", type=int, default=int(os.environ.get("CITYLOOP_BENCH_CASES", "1000000")))
    args = parser.parse_args()
    url = database(args.db, "casepages")
    print(f"database: {args.db} (fresh, demo district seeded)", flush=True)
    prepare(url)
    csv_path = Path(tempfile.mkdtemp(prefix="cityloop-pages-")) / "cases.csv"
    generate(csv_path, url, args.cases)
    started = time.perf_counter()
    subprocess.run(
        [PY, "-m", "cityloop", "cases", "import", str(csv_path)], cwd=ROOT, env=env_for(url), check=True
    )
    print(f"imported {args.cases:,} cases in {time.perf_counter() - started:.1f} s", flush=True)
    csv_path.unlink()

    port = free_port()
    server = start_server(url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        users = {name: signed_in(base, name) for name in ("dispatcher", "street2", "supervisor")}
        queue = users["dispatcher"].get("/cases/queue?state=reported").text
        first = re.search(r'href="/cases/(\d+)"', queue)
        tracking = re.search(r"JLP-\d{4}-\d{6,}", queue)
        pages = [
            ("dispatcher", "queue, open (default)", "/cases/queue"),
            ("dispatcher", "queue, awaiting registration", "/cases/queue?state=reported"),
            ("dispatcher", "queue, overdue", "/cases/queue?overdue=1"),
            (
                "dispatcher",
                "queue, one street, hotline, all states",
                f"/cases/queue?state=all&street={HJP}&source=hotline_12345",
            ),
            (
                "dispatcher",
                "queue, tracking number",
                f"/cases/queue?state=all&q={tracking.group(0) if tracking else ''}",
            ),
            ("dispatcher", "queue, page 20 of everything", "/cases/queue?state=all&page=20"),
            ("dispatcher", "one case", f"/cases/{first.group(1) if first else 1}"),
            ("street2", "inbox, to do (by deadline)", "/cases/inbox"),
            ("street2", "inbox, closed", "/cases/inbox?tab=closed"),
            ("street2", "queue (scoped)", "/cases/queue"),
            ("supervisor", "overdue + escalations", "/cases/overdue"),
        ]
        for user, label, path in pages:
            client = users[user]

            def run(c: httpx.Client = client, p: str = path) -> httpx.Response:
                r = c.get(p)
                r.raise_for_status()
                return r

            med, worst = timed(run)
            size = len(run().content)
            print(
                f"page · {user} · {label}: median {med * 1000:.0f} ms, max {worst * 1000:.0f} ms ({size:,} B)"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
