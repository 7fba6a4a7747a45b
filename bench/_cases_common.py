"""Shared by the case benchmarks: a fresh database (SQLite in a temp dir, or PostgreSQL), the demo
district in it, a token, a real server process, and random points inside the district's grid cells."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import shapely
from shapely.geometry import shape

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def database(kind: str, name: str) -> str:
    """A fresh, empty database URL: ``sqlite`` (a temp file) or ``postgresql`` (created, dropped first)."""
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix=f"cityloop-{name}-"))
        return f"sqlite:///{folder / 'bench.db'}"
    import psycopg

    base = os.environ.get("CITYLOOP_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    db = f"cityloop_bench_{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')
    return f"{base}/{db}"


def env_for(url: str) -> dict[str, str]:
    return {**os.environ, "CITYLOOP_DATABASE_URL": url, "PYTHONPATH": str(ROOT / "src")}


def cli(url: str, *args: str) -> str:
    out = subprocess.run(
        [PY, "-m", "cityloop", *args], cwd=ROOT, env=env_for(url), capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"cityloop {' '.join(args)} failed: {out.stderr or out.stdout}")
    return out.stdout


def prepare(url: str) -> None:
    cli(url, "init")
    cli(url, "seed-demo")


def token(url: str, username: str) -> str:
    return cli(url, "tokens", "create", "--username", username, "--name", "bench").strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "cityloop",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        env=env_for(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def grid_points(url: str, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random points inside the demo's grid cells (vectorised rejection sampling)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT geometry FROM units WHERE kind = 'grid'")).scalars().all()
    engine.dispose()
    # A metre inside each cell, so rounding to 6 decimals (~5 cm) never moves a point out of the district.
    polys = [shape(g if isinstance(g, dict) else json.loads(g)).buffer(-1e-5) for g in rows]
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(polys), n)
    lons, lats = np.empty(n), np.empty(n)
    for i, poly in enumerate(polys):
        idx = np.flatnonzero(which == i)
        minx, miny, maxx, maxy = poly.bounds
        filled = 0
        while filled < len(idx):
            need = (len(idx) - filled) * 3 + 16
            xs, ys = rng.uniform(minx, maxx, need), rng.uniform(miny, maxy, need)
            ok = shapely.contains_xy(poly, xs, ys)
            take = min(int(ok.sum()), len(idx) - filled)
            lons[idx[filled : filled + take]] = xs[ok][:take]
            lats[idx[filled : filled + take]] = ys[ok][:take]
            filled += take
    return np.round(lons, 6), np.round(lats, 6)


def percentile(values: list[float], p: float) -> float:
    return float(np.percentile(np.array(values), p)) if values else float("nan")
