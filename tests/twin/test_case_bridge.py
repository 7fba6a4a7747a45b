"""Issue #6: an orange/red warning opens a case in the unified queue (source sensor), dispatched to the
network's operator unit with the impact plan; verification and closure wait until the sensors have been
normal for the configured time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from cityloop import bridges
from cityloop.cases import queue, service
from cityloop.cases.models import Case, CaseEvent, Category
from cityloop.core.audit import Actor
from cityloop.core.clock import FrozenClock, set_clock
from cityloop.core.errors import Conflict
from cityloop.core.permissions import Principal
from cityloop.org import service as org
from cityloop.twin import case_bridge, jobs
from cityloop.twin.models import CaseRequest, TwinWarning
from cityloop.twin.telemetry import Ingestor, parse_http
from tests.twin.conftest import add_sensor, import_water

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _installed() -> Iterator[None]:
    bridges.install()
    yield
    bridges.uninstall()


def feed(db: Any, ing: Ingestor, code: str, values: list[float], start: int = 0) -> None:
    for i, v in enumerate(values, start=start):
        ing.ingest(
            db,
            parse_http([{"sensor": code, "ts": (T0 + timedelta(minutes=i)).isoformat(), "value": v}]),
            channel="http",
        )


def principal(db: Any, username: str) -> Principal:
    return org.principal_for(org.get_user(db, username=username))


def red_warning(db: Any, clock: FrozenClock) -> tuple[TwinWarning, Ingestor]:
    set_clock(clock)
    net = import_water(db)
    add_sensor(db, "P-22", "pressure", net, "22", rules={"disable": ["rate"]})
    ing = Ingestor(actor=Actor("test"))
    feed(db, ing, "P-22", [40, 9])
    warning = db.scalar(select(TwinWarning).where(TwinWarning.cause == "low"))
    assert warning.level == "red" and warning.case_state == "pending"
    return warning, ing


def test_warning_opens_one_case_in_the_queue_dispatched_to_the_operator_with_the_plan(db) -> None:
    warning, _ = red_warning(db, FrozenClock(T0))
    assert jobs.warning_cases(db) == 1 and jobs.warning_cases(db) == 0
    case = db.scalar(select(Case).where(Case.source_ref == f"twin-warning:{warning.id}"))
    assert warning.case_ref == case.tracking_no and warning.case_state == "requested"
    assert case.source == "sensor" and case.state == "dispatched" and case.urgency == "emergency"
    assert case.unit.code == "util-water"
    assert db.get(Category, case.category_id).name == "供水管网压力异常"
    plan = case.attributes["impact_plan"]
    assert plan["kind"] == "water" and plan["valves"] and "leak_candidates" in plan
    assert case.attributes["twin"]["sensor"] == "P-22"
    notes = db.scalars(select(CaseEvent.note).where(CaseEvent.case_id == case.id, CaseEvent.action == "note"))
    assert any("影响分析" in (n or "") and "阀门" in (n or "") for n in notes)
    assert db.scalar(select(func.count()).select_from(CaseRequest)) == 0
    # The operator on duty finds it in the unified queue.
    page = queue.list_cases(
        db, principal=principal(db, "operator"), filters=queue.CaseFilter(source="sensor", states=["open"])
    )
    assert case.id in [c.id for c in page.items]
    # One case per warning, whoever asks again.
    assert case_bridge.open_case_for_warning(db, warning, plan) == case.tracking_no
    assert (
        db.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.source == "sensor", Case.source_ref == case.source_ref)
        )
        == 1
    )


def test_verification_waits_until_the_sensor_has_been_normal_long_enough(db, client, token_for) -> None:
    clock = FrozenClock(T0)
    warning, ing = red_warning(db, clock)
    jobs.warning_cases(db)
    case = db.scalar(select(Case).where(Case.source_ref == f"twin-warning:{warning.id}"))
    operator, dispatcher = principal(db, "operator"), principal(db, "dispatcher")
    service.apply_action(
        db, actor=operator, case=case, action="accept", data=service.ActionInput(case.version)
    )
    service.apply_action(
        db,
        actor=operator,
        case=case,
        action="feedback",
        data=service.ActionInput(case.version, note="已关阀抢修"),
    )
    db.commit()
    headers = token_for("dispatcher")
    body = {"version": case.version}
    # Still abnormal: refused with the reason.
    r = client.post(f"/api/v1/cases/{case.id}/actions/verify_pass", headers=headers, json=body)
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "sensors_not_normal" and "P-22" in err["message"]
    assert err["details"]["sensor"] == "P-22" and err["details"]["normal_minutes"] == 10
    db.refresh(case)
    assert case.state == "feedback"
    # Back to normal, but not yet for 10 minutes.
    feed(db, ing, "P-22", [30] * 6, start=2)
    clock.current = T0 + timedelta(minutes=7)
    with pytest.raises(Conflict):
        service.apply_action(
            db, actor=dispatcher, case=case, action="verify_pass", data=service.ActionInput(case.version)
        )
    feed(db, ing, "P-22", [30] * 6, start=8)
    clock.current = T0 + timedelta(minutes=13)
    db.commit()
    r = client.post(f"/api/v1/cases/{case.id}/actions/verify_pass", headers=headers, json=body)
    assert r.status_code == 200, r.text
    r = client.post(
        f"/api/v1/cases/{case.id}/actions/close", headers=headers, json={"version": r.json()["version"]}
    )
    assert r.status_code == 200 and r.json()["state"] == "closed"


def test_other_sensor_channel_cases_are_not_held(db) -> None:
    """A case an operator reports by hand through the sensor channel has no warning: no guard."""
    case = Case(source="sensor", source_ref=None)
    case_bridge.close_guard(db, case)  # no exception


def test_fallback_without_the_bridge_records_a_case_request(db) -> None:
    bridges.uninstall()
    warning, _ = red_warning(db, FrozenClock(T0))
    jobs.warning_cases(db)
    assert db.scalar(select(CaseRequest)).warning_id == warning.id


def test_the_warning_page_names_the_case(client, db) -> None:
    from tests.org.test_web_auth import sign_in

    warning, _ = red_warning(db, FrozenClock(T0))
    jobs.warning_cases(db)
    db.commit()
    sign_in(client, "operator")
    page = client.get(f"/twin/warnings/{warning.id}")
    assert page.status_code == 200 and warning.case_ref in page.text and "待受理" in page.text


def test_a_case_the_queue_refuses_is_reported_on_the_warning(db, monkeypatch) -> None:
    from cityloop.core.errors import ValidationFailed
    from cityloop.twin.models import WarningEvent

    warning, _ = red_warning(db, FrozenClock(T0))

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise ValidationFailed("cases.error.location_missing")

    monkeypatch.setattr(case_bridge.CasesServiceBridge, "open_case_for_warning", refuse)
    assert jobs.warning_cases(db) == 1 and jobs.warning_cases(db) == 0
    assert warning.case_state == "failed" and warning.case_ref is None
    events = db.scalars(select(WarningEvent.event).where(WarningEvent.warning_id == warning.id)).all()
    assert "case_failed" in events
