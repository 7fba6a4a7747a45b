"""Deadlines: 80 % reminder, 100 % overdue, escalation — each exactly once, across restarts; working hours."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from cityloop.cases import jobs, notify, service
from cityloop.cases.deadlines import WorkCalendar
from cityloop.cases.models import CaseEvent, CaseStep, Notification
from cityloop.cases.workflow import ActionInput
from cityloop.core.audit import Actor
from cityloop.core.clock import FrozenClock, set_clock
from cityloop.org import service as org
from cityloop.worker.runner import jobs as registered_jobs
from cityloop.worker.runner import run_once
from tests.cases.helpers import YJP, point_in

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Chongqing, a Tuesday


@pytest.fixture
def clock():
    c = FrozenClock(START)
    set_clock(c)
    return c


def _case(db, category="SJ0102"):
    """A case dispatched to 杨家坪街道 at START (暴露垃圾: 4 h to handle)."""
    lon, lat = point_in(db, f"{YJP}-C1-G1")
    citizen = org.principal_for(org.get_user(db, username="citizen"))
    dispatcher = org.principal_for(org.get_user(db, username="dispatcher"))
    case = service.intake(db, actor=citizen, report=service.NewCase(category=category, lon=lon, lat=lat)).case
    for action in ("register", "dispatch"):
        service.apply_action(
            db, actor=dispatcher, case=case, action=action, data=ActionInput(version=case.version)
        )
    return case


def _notices(db, case, kind=None):
    stmt = select(Notification.kind, Notification.audience).where(Notification.case_id == case.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return sorted(tuple(r) for r in db.execute(stmt))


def _only_this_case(db, case):
    """Close the demo month's open steps so the jobs see only the test's case."""
    db.execute(
        CaseStep.__table__.update()
        .where(CaseStep.case_id != case.id, CaseStep.done_at.is_(None))
        .values(done_at=START)
    )


def test_reminder_overdue_and_escalation_each_fire_once(db, clock) -> None:
    case = _case(db)
    _only_this_case(db, case)
    step = db.execute(
        select(CaseStep).where(CaseStep.case_id == case.id, CaseStep.done_at.is_(None))
    ).scalar_one()
    assert step.step == "handle" and step.due_at == START + timedelta(hours=4)
    assert jobs.deadlines_job(db) == 0
    clock.advance(hours=3, minutes=11)  # 80 % of 4 h is 3 h 12 min
    assert jobs.deadlines_job(db) == 0
    clock.advance(minutes=2)
    assert jobs.deadlines_job(db) == 1
    assert _notices(db, case) == [("reminder", "unit")]
    assert jobs.deadlines_job(db) == 0  # nothing fires twice
    clock.advance(hours=1)
    assert jobs.deadlines_job(db) == 2  # overdue and escalation (both at 100 % by default)
    assert _notices(db, case) == [
        ("escalation", "supervisor"),
        ("escalation", "unit_leader"),
        ("overdue", "unit"),
        ("reminder", "unit"),
    ]
    clock.advance(days=3)
    assert jobs.deadlines_job(db) == 0
    kinds = (
        db.execute(select(CaseEvent.action).where(CaseEvent.case_id == case.id, CaseEvent.public.is_(False)))
        .scalars()
        .all()
    )
    assert kinds.count("reminder") == 1 and kinds.count("overdue") == 1 and kinds.count("escalation") == 1


def test_the_queue_shows_the_overdue_case(client, token_for, db, clock) -> None:
    case = _case(db)
    db.commit()
    h = token_for("street")
    assert case.id not in [
        c["id"] for c in client.get("/api/v1/cases", headers=h, params={"overdue": True}).json()["items"]
    ]
    clock.advance(hours=5)
    overdue = client.get("/api/v1/cases", headers=h, params={"overdue": True, "page_size": 200}).json()[
        "items"
    ]
    mine = next(c for c in overdue if c["id"] == case.id)
    assert mine["overdue"] is True


def test_a_finished_step_is_never_chased(db, clock) -> None:
    case = _case(db)
    _only_this_case(db, case)
    street = org.principal_for(org.get_user(db, username="street"))
    service.apply_action(db, actor=street, case=case, action="accept", data=ActionInput(version=case.version))
    service.apply_action(
        db, actor=street, case=case, action="feedback", data=ActionInput(version=case.version, note="done")
    )
    clock.advance(hours=10)
    assert jobs.deadlines_job(db) == 0
    assert _notices(db, case) == []
    handle = db.execute(
        select(CaseStep).where(CaseStep.case_id == case.id, CaseStep.step == "handle")
    ).scalar_one()
    assert handle.reminded_at is None and handle.overdue_at is None  # it was done in time
    verify = db.execute(
        select(CaseStep).where(CaseStep.case_id == case.id, CaseStep.step == "verify")
    ).scalar_one()
    assert verify.done_at is None and verify.reminded_at is None  # verification has 24 h


def test_an_approved_extension_moves_the_reminder_too(db, clock) -> None:
    case = _case(db)
    _only_this_case(db, case)
    street = org.principal_for(org.get_user(db, username="street"))
    dispatcher = org.principal_for(org.get_user(db, username="dispatcher"))
    service.apply_action(db, actor=street, case=case, action="accept", data=ActionInput(version=case.version))
    clock.advance(hours=3, minutes=30)
    assert jobs.remind(db) == 1
    service.apply_action(
        db,
        actor=street,
        case=case,
        action="request_extension",
        data=ActionInput(version=case.version, hours=20, reason="r"),
    )
    service.apply_action(
        db, actor=dispatcher, case=case, action="approve_extension", data=ActionInput(version=case.version)
    )
    assert case.handle_due_at == START + timedelta(hours=24)
    clock.advance(hours=1)  # past the old deadline, long before the new one
    assert jobs.deadlines_job(db) == 0
    clock.advance(hours=15)  # 80 % of 24 h = 19 h 12 min after START
    assert jobs.remind(db) == 1
    assert [k for k, _ in _notices(db, case)] == ["reminder", "reminder"]


def test_restart_loses_nothing_and_repeats_nothing(live_db, clock) -> None:
    """Real commits on a private database: a worker round, a "restart" (new process state), another round."""
    from cityloop.core.db import session_scope

    with session_scope() as s:
        _only_this_case(s, _case(s))
    clock.advance(hours=4, minutes=1)
    first = run_once({"cases.deadlines"})["cases.deadlines"]
    assert first == 3  # the reminder, overdue and escalation points of our case, in one round
    from cityloop.core.db import reset_engines

    reset_engines()  # as if the worker process had been restarted
    assert run_once({"cases.deadlines"})["cases.deadlines"] == 0
    memory = notify.MemoryNotifier()
    notify.set_notifier(memory)
    try:
        sent = run_once({"cases.notifications"})["cases.notifications"]
        # Overdue and two escalation notices; no reminder after the deadline has passed.
        assert sent == len(memory.sent) == 3 and {n["kind"] for n in memory.sent} == {"overdue", "escalation"}
        assert run_once({"cases.notifications"})["cases.notifications"] == 0
    finally:
        notify.set_notifier(None)
    with session_scope(write=False) as s:
        unsent = s.scalar(
            select(func.count()).select_from(Notification).where(Notification.sent_at.is_(None))
        )
        assert unsent == 0


def test_the_worker_knows_the_case_jobs() -> None:
    assert {"cases.deadlines", "cases.notifications"} <= set(registered_jobs())


def test_a_failing_notifier_is_retried_later(db, clock) -> None:
    case = _case(db)
    notify.queue(db, kind="closed", case_id=case.id, audience="reporter", message_key="cases.notice.closed")

    class Broken:
        def send(self, n):
            raise RuntimeError("SMS gateway down")

    notify.set_notifier(Broken())
    try:
        assert notify.deliver(db) == 0
    finally:
        notify.set_notifier(None)
    row = db.execute(select(Notification).where(Notification.case_id == case.id)).scalar_one()
    assert row.sent_at is None and row.attempts == 1
    assert notify.deliver(db) >= 1 and row.sent_at is not None


def test_working_hours_skip_nights_weekends_and_holidays() -> None:
    cal = WorkCalendar(
        periods=((time(9), time(12)), (time(14), time(18))),
        days=frozenset({1, 2, 3, 4, 5}),
        holidays=frozenset({datetime(2026, 12, 4).date()}),
        zone=ZoneInfo("Asia/Shanghai"),
    )
    zone = ZoneInfo("Asia/Shanghai")
    start = datetime(2026, 12, 3, 17, 0, tzinfo=zone)  # Thursday 17:00
    # 1 h left on Thursday, Friday is a holiday, the weekend is off: 2 h more end Monday 11:00.
    assert cal.add(start, timedelta(hours=3)) == datetime(2026, 12, 7, 11, 0, tzinfo=zone).astimezone(UTC)
    lunch = datetime(2026, 12, 7, 11, 30, tzinfo=zone)
    assert cal.add(lunch, timedelta(hours=1)) == datetime(2026, 12, 7, 14, 30, tzinfo=zone).astimezone(UTC)


def test_the_working_calendar_setting_applies_to_categories_that_count_working_time(
    db, clock, monkeypatch
) -> None:
    from cityloop.config import get_settings

    monkeypatch.setenv("CITYLOOP_CASE_WORKING_HOURS", "09:00-12:00,14:00-18:00")
    get_settings.cache_clear()
    try:
        case = _case(db)  # 09:00 Tuesday; 4 working hours of handling → 15:00 after the lunch break
        assert case.handle_due_at == datetime(
            2026, 12, 1, 15, 0, tzinfo=ZoneInfo("Asia/Shanghai")
        ).astimezone(UTC)
        burst = _case(db, category="SJ0402")  # 自来水管破裂 is an emergency category: round the clock
        assert (
            burst.urgency == "normal"
        )  # urgency comes from the report; the category opts out of the calendar
        assert burst.handle_due_at == START + timedelta(hours=4)
    finally:
        get_settings.cache_clear()


def test_system_actor_can_drive_the_loop(db) -> None:
    """Other domains (the twin) act through the service with a system actor."""
    lon, lat = point_in(db, f"{YJP}-C1-G1")
    sensor = Actor("twin")
    result = service.intake(
        db,
        actor=sensor,
        report=service.NewCase(category="SJ0402", lon=lon, lat=lat, source="sensor", urgency="emergency"),
    )
    case = result.case
    assert case.source == "sensor" and case.reporter_user_id is None
    service.apply_action(
        db, actor=sensor, case=case, action="register", data=ActionInput(version=case.version)
    )
    assert case.state == "registered"
