"""Factories for programme tests: small tasks with known plans inside the demo programme."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from cityloop.core.audit import Actor
from cityloop.org import service as org
from cityloop.programme import service
from cityloop.programme.models import Task
from cityloop.programme.plans import MilestoneInput, TaskInput

# A 1×1 PNG: evidence files in tests.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478"
    "9c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)
ACTOR = Actor("test")


@pytest.fixture(autouse=True)
def _fresh_chart_summaries() -> Any:
    """Rolled-back tests reuse task ids: the battle map's per-process summaries must not outlive one."""
    from cityloop.programme import battlemap

    battlemap.clear_summaries()
    yield
    battlemap.clear_summaries()


def at(day: str, hour: int = 2) -> datetime:
    """A UTC moment on ``day`` (02:00 UTC is 10:00 in Chongqing, the same calendar day)."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def principal(db: Any, username: str) -> Any:
    return org.principal_for(org.get_user(db, username=username))


def person_in(db: Any, unit_code: str, name: str = "测试责任人") -> Any:
    unit = org.find_unit(db, ref=unit_code)
    return org.create_person(db, actor=ACTOR, name=name, unit=unit, title="科员")


def make_task(
    db: Any,
    *,
    action: str = "CWZL",
    unit: str = "500107001000",
    code: str | None = None,
    baseline: float = 0,
    target: float = 10,
    starts: str = "2026-03-01",
    due: str = "2026-06-30",
    milestones: list[tuple[str, str, float]] | None = None,
    place: dict[str, Any] | None = None,
    programme: str | None = None,
) -> Task:
    """A task of a demo action with a plan (name, date, planned %); by default 3 milestones."""
    the_action = service.find_action(db, programme=service.get_programme(db, ref=programme), ref=action)
    plan = milestones or [
        ("摸排", "2026-04-01", 30.0),
        ("整治", "2026-05-15", 70.0),
        ("验收", "2026-06-30", 100.0),
    ]
    responsible = org.find_unit(db, ref=unit)
    data = TaskInput(
        code=code,
        name=f"测试任务 {code or ''}".strip(),
        indicator="整治点位",
        indicator_unit="处",
        baseline=baseline,
        target_value=target,
        responsible_unit=responsible,
        responsible_person=person_in(db, unit),
        starts_on=date.fromisoformat(starts),
        due_on=date.fromisoformat(due),
        milestones=[MilestoneInput(n, date.fromisoformat(d), p, None) for n, d, p in plan],
        place=place or {"type": "Point", "coordinates": [106.51, 29.51]},
    )
    task = service.create_task(db, actor=ACTOR, principal=None, action=the_action, data=data)
    db.commit()
    return task


@pytest.fixture
def clock() -> Any:
    from cityloop.core.clock import FrozenClock, set_clock

    frozen = FrozenClock(at("2026-03-10"))
    set_clock(frozen)
    return frozen


def upload(
    client: Any, headers: dict[str, str], *, task_id: int | None = None, problem_id: int | None = None
) -> int:
    data = {"task_id": str(task_id)} if task_id else {"problem_id": str(problem_id)}
    r = client.post(
        "/api/v1/programme/evidence",
        headers=headers,
        data=data,
        files={"file": ("现场.png", PNG, "image/png")},
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])
