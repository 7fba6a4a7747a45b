"""HTTP case intake under load: 50 concurrent clients POST /api/v1/cases against a real server.

Each report is routed (point → grid → street → unit), checked for duplicates, numbered, given its first
deadline, audit-logged and committed before the 201 goes out. Prints sustained cases/s, p50/p99 latency.

    python bench/cases_intake.py                  # SQLite in a temp dir, 60 s
    python bench/cases_intake.py --db postgresql  # PostgreSQL (CITYLOOP_BENCH_PG=postgresql+psycopg://…)
    CITYLOOP_BENCH_SECONDS=10 python bench/cases_intake.py

Target (issue 3): ≥ 300 cases/s with p99 < 250 ms on SQLite on the 2-core reference machine. The load
generator is a lean asyncio HTTP/1.1 keep-alive client in this process, so it shares those two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid

from _cases_common import database, free_port, grid_points, percentile, prepare, start_server, token

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
]


async def client(
    port: int, auth: str, points: list[tuple[float, float]], stop_at: float, warm_until: float, out: dict
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rng = random.Random()
    try:
        while time.perf_counter() < stop_at:
            lon, lat = rng.choice(points)
            body = json.dumps(
                {
                    "category": rng.choice(CATEGORIES),
                    "lon": lon,
                    "lat": lat,
                    "description": "压测上报 bench report",
                },
                ensure_ascii=False,
            ).encode()
            head = (
                "POST /api/v1/cases HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {auth}\r\nIdempotency-Key: {uuid.uuid4()}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            started = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            done = time.perf_counter()
            if started < warm_until:
                continue
            if status == 201:
                out["latencies"].append(done - started)
            else:
                out["errors"][status] = out["errors"].get(status, 0) + 1
    finally:
        writer.close()


async def drive(
    port: int, auth: str, points: list[tuple[float, float]], seconds: float, clients: int
) -> dict:
    out: dict = {"latencies": [], "errors": {}}
    begin = time.perf_counter()
    warm = min(3.0, seconds / 5)
    await asyncio.gather(
        *(client(port, auth, points, begin + warm + seconds, begin + warm, out) for _ in range(clients))
    )
    out["seconds"] = seconds
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--db", choices=["sqlite", "postgresql"], default=os.environ.get("CITYLOOP_BENCH_DB", "sqlite")
    )
    parser.add_argument(
        "--seconds", type=float, default=float(os.environ.get("CITYLOOP_BENCH_SECONDS", "60"))
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("CITYLOOP_BENCH_WORKERS", "1")),
        help="server processes (`cityloop serve --workers N`)",
    )
    args = parser.parse_args()
    url = database(args.db, "intake")
    print(f"database: {args.db} (fresh, demo district seeded)", flush=True)
    prepare(url)
    auth = token(url, "inspector")
    lons, lats = grid_points(url, 5000)
    points = list(zip(lons.tolist(), lats.tolist(), strict=True))
    port = free_port()
    server = start_server(url, port, workers=args.workers)
    try:
        result = asyncio.run(drive(port, auth, points, args.seconds, args.clients))
    finally:
        server.terminate()
        server.wait(timeout=30)
    lat = result["latencies"]
    rate = len(lat) / result["seconds"]
    print(f"server workers: {args.workers}")
    print(f"clients: {args.clients}, measured: {result['seconds']:.0f} s after warm-up")
    print(f"cases created: {len(lat)}  errors: {result['errors'] or 'none'}")
    print(f"sustained: {rate:.0f} cases/s")
    print(
        f"latency: p50 {percentile(lat, 50) * 1000:.0f} ms, p95 {percentile(lat, 95) * 1000:.0f} ms, "
        f"p99 {percentile(lat, 99) * 1000:.0f} ms"
    )
    ok = rate >= 300 and percentile(lat, 99) < 0.25 and not result["errors"]
    print(f"target (≥ 300/s, p99 < 250 ms, no errors): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
