"""The worker: a loop that runs every registered job, each in its own transaction.

Jobs keep their state in the database (deadline rows, "fired" markers), never in this process, so a
restart loses nothing and a second worker can run beside the first: jobs claim rows with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL. A failing job is logged and retried next round; it never
stops the others.
"""

from __future__ import annotations

import importlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cityloop.config import get_settings
from cityloop.core.db import session_scope

log = logging.getLogger("cityloop.worker")

# Modules whose import registers jobs. Each domain that has background work adds its jobs module here.
JOB_MODULES: list[str] = [
    "cityloop.org.jobs",
    "cityloop.cases.jobs",
    "cityloop.programme.jobs",
    "cityloop.twin.jobs",
    "cityloop.insight.jobs",
]


@dataclass(frozen=True)
class Job:
    name: str
    fn: Callable[[Session], int]
    every_seconds: float


_JOBS: dict[str, Job] = {}


def job(
    name: str, *, every_seconds: float = 0
) -> Callable[[Callable[[Session], int]], Callable[[Session], int]]:
    """Register ``fn(session) -> number of items handled`` as a worker job."""

    def register(fn: Callable[[Session], int]) -> Callable[[Session], int]:
        _JOBS[name] = Job(name, fn, every_seconds)
        return fn

    return register


def jobs() -> dict[str, Job]:
    from cityloop import bridges

    bridges.install()  # warnings → cases, sites → tasks
    for module in JOB_MODULES:
        importlib.import_module(module)
    return dict(_JOBS)


def run_job(j: Job) -> int | None:
    try:
        with session_scope(write=True) as session:
            return j.fn(session)
    except Exception:
        log.exception("job %s failed; will retry next round", j.name)
        return None


def run_once(only: set[str] | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, j in jobs().items():
        if only and name not in only:
            continue
        count = run_job(j)
        results[name] = "failed" if count is None else count
    return results


def run_forever(interval: float | None = None) -> None:
    interval = interval or get_settings().worker_interval_seconds
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    registered = jobs()
    log.info("worker started with %d jobs: %s", len(registered), ", ".join(registered) or "none")
    last_run: dict[str, float] = {}
    while not stopping:
        started = time.monotonic()
        for name, j in registered.items():
            if stopping:
                break
            if started - last_run.get(name, 0.0) < j.every_seconds:
                continue
            count = run_job(j)
            last_run[name] = started
            if count:
                log.info("%s: %s", name, count)
        slept = 0.0
        while not stopping and slept < interval:
            time.sleep(0.2)
            slept += 0.2
    log.info("worker stopped")
