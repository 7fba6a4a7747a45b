"""Shared set-up for the twin benchmarks: a fresh database (SQLite file or PostgreSQL), a private
broker, an operator unit and sensors. Not a benchmark itself (leading underscore)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("CITYLOOP_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_database(dialect: str, name: str) -> str:
    """Create an empty, migrated database; returns its SQLAlchemy URL."""
    from cityloop.core.migrate import upgrade

    if dialect == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='cityloop-bench-')}/{name}.db"
    else:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        base, _, _ = PG_ADMIN.rpartition("/")
        url = f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    upgrade(url)
    return url


def drop_database(dialect: str, name: str) -> None:
    from cityloop.core.db import reset_engines

    reset_engines()
    if dialect == "postgresql":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def operator_unit(url: str) -> None:
    """A district with the water operator unit (what the benchmarks need of the organisation)."""
    from cityloop.core.audit import Actor
    from cityloop.core.db import session_scope
    from cityloop.org import service as org

    with session_scope(url) as s:
        district = org.create_unit(
            s, actor=Actor("bench"), code="500107", name="九龙坡区", kind="district", parent=None
        )
        org.create_unit(
            s, actor=Actor("bench"), code="util-water", name="供水运营单位", kind="utility", parent=district
        )


def sensors(url: str, codes: list[str], kind: str = "pressure") -> None:
    from sqlalchemy import insert

    from cityloop.core.db import session_scope
    from cityloop.org import service as org
    from cityloop.twin.models import Sensor

    with session_scope(url) as s:
        unit = org.find_unit(s, ref="util-water")
        s.execute(
            insert(Sensor),
            [
                {"code": c, "kind": kind, "measure_unit": "m", "unit_id": unit.id, "lon": 106.5, "lat": 29.5,
                 "rules": {}, "active": True}
                for c in codes
            ],
        )  # fmt: skip


def broker(name: str) -> Any:
    """A private broker started for a benchmark (tests/twin/brokers.py): ``rabbitmq`` or ``mosquitto``."""
    sys.path.insert(0, str(ROOT))
    from tests.twin import brokers

    made = brokers.Rabbit() if name == "rabbitmq" else brokers.Mosquitto()
    made.start()
    return made


def cityloop(*args: str, url: str, log: str | None = None) -> subprocess.Popen[bytes]:
    """``cityloop ARGS`` as a separate process on the given database (output to ``log`` if given)."""
    env = {**os.environ, "CITYLOOP_DATABASE_URL": url, "PYTHONPATH": str(ROOT / "src")}
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        [sys.executable, "-m", "cityloop", *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc): on a shared machine the
    CPU a run costs is steadier than its wall time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
