"""督导 with an injectable clock: green → yellow → red, notices, reminders and escalations that fire
once — also across a restart (new sessions, a second worker run, real commits)."""

from datetime import date, timedelta

from sqlalchemy import func, select

from cityloop.core.clock import FrozenClock, set_clock
from cityloop.core.db import session_scope
from cityloop.programme import service, supervision, workflow
from cityloop.programme.models import Event, Notice, Task
from cityloop.programme.supervision import MilestoneRow, judge, planned_pct_at, summarise
from cityloop.worker import runner
from tests.programme.conftest import at, make_task, principal

CFG = dict(service.DEFAULT_SUPERVISION)
PLAN = [
    MilestoneRow(1, date(2026, 4, 1), 30, None),
    MilestoneRow(2, date(2026, 5, 15), 70, None),
    MilestoneRow(3, date(2026, 6, 30), 100, None),
]


def verdict(day: str, *, pct: float = 0, reported: str | None = None, plan=PLAN, state="in_progress", **cfg):
    return judge(
        state=state,
        progress_pct=pct,
        starts_on=date(2026, 3, 1),
        due_on=date(2026, 6, 30),
        last_report_at=at(reported) if reported else None,
        plan=summarise(plan, date.fromisoformat(day)),
        day=date.fromisoformat(day),
        cfg={**CFG, **cfg},
    )


def planned(day: date) -> float:
    return planned_pct_at(summarise(PLAN, day), date(2026, 3, 1), day)


def test_planned_progress_is_interpolated_between_milestones() -> None:
    assert planned(date(2026, 3, 1)) == 0
    assert planned(date(2026, 4, 1)) == 30
    assert round(planned(date(2026, 4, 23)), 1) == 50.0
    assert planned(date(2026, 8, 1)) == 100


def test_colours_follow_the_plan_and_the_margin() -> None:
    assert (verdict("2026-03-10").status, verdict("2026-03-10").reason) == ("green", "on_track")
    behind = verdict("2026-03-20")  # planned 18.4 %, nothing done
    assert (behind.status, behind.reason) == ("yellow", "behind_plan")
    assert verdict("2026-03-20", behind_margin_pct=30).status == "green"  # the margin is data
    soon = verdict("2026-03-28", pct=25)  # milestone on 04-01, nothing reported
    assert (soon.status, soon.reason) == ("yellow", "due_soon_no_report")
    assert verdict("2026-03-28", pct=25, reported="2026-03-25").status == "green"
    late = verdict("2026-04-02", pct=25, reported="2026-03-25")
    assert (late.status, late.reason, late.cause) == ("red", "milestone_overdue", "milestone:1")
    done = [MilestoneRow(m.id, m.due_on, m.planned_pct, m.due_on) for m in PLAN]
    overdue = verdict("2026-07-02", pct=100, plan=done)
    assert (overdue.status, overdue.cause) == ("red", "due")
    assert verdict("2026-07-02", pct=100, plan=done, state="submitted").status == "green"


def events(db, task, kind=None):
    stmt = select(Event).where(Event.task_id == task.id).order_by(Event.id)
    if kind:
        stmt = stmt.where(Event.kind == kind)
    return list(db.scalars(stmt))


def scan_via_worker() -> None:
    """What a (re)started worker does: its own session, its own transaction."""
    assert runner.run_once(only={"programme.supervision"}) != {"programme.supervision": "failed"}


def test_green_yellow_red_notice_reminder_and_escalations_fire_once(db, clock) -> None:
    task = make_task(db, code="SUP-1")
    checks = []
    for day, expected in (("2026-03-10", "green"), ("2026-03-20", "yellow"), ("2026-04-02", "red")):
        clock.current = at(day)
        supervision.scan(db)
        db.commit()
        db.refresh(task)
        checks.append(task.status)
        assert task.status == expected
    notices = db.scalars(select(Notice).where(Notice.task_id == task.id)).all()
    assert len(notices) == 1 and notices[0].level == 0 and notices[0].to_unit_id == task.responsible_unit_id
    notice = notices[0]
    assert notice.cause == f"milestone:{task.milestones[0].id}" and notice.number.startswith("DB2026-")
    # The same moment again, in this session and in a fresh worker run: nothing new.
    before = len(events(db, task))
    supervision.scan(db)
    scan_via_worker()
    assert len(events(db, task)) == before
    # A day before the reply falls due: one reminder, however often the worker runs.
    clock.current = notice.reply_due_at - timedelta(hours=20)
    scan_via_worker()
    scan_via_worker()
    assert len(events(db, task, "reminder")) == 1
    # Late: escalated to the lead leader, then to the task-force office, each exactly once.
    clock.current = notice.reply_due_at + timedelta(hours=1)
    scan_via_worker()
    scan_via_worker()
    db.refresh(notice)
    assert notice.level == 1
    leader = task.action.lead_leader
    escalations = events(db, task, "escalation")
    assert len(escalations) == 1 and escalations[0].to_person_id == leader.id
    clock.current = notice.reply_due_at - timedelta(hours=20)  # the leader's window: one reminder
    scan_via_worker()
    scan_via_worker()
    clock.current = notice.reply_due_at + timedelta(hours=1)
    scan_via_worker()
    clock.advance(days=30)  # at the top there is nobody left to escalate to
    scan_via_worker()
    scan_via_worker()
    db.refresh(notice)
    escalations = events(db, task, "escalation")
    assert notice.level == 2 and [e.level for e in escalations] == [1, 2]
    assert escalations[1].to_unit_id == service.get_programme(db).owner_unit_id  # 总专班办公室
    # Still one notice for this cause, and the timeline shows every step once.
    assert db.scalar(select(func.count()).select_from(Notice).where(Notice.task_id == task.id)) == 1
    kinds = [e.kind for e in events(db, task)]
    assert kinds.count("notice") == 1 and kinds.count("reminder") == 2  # level 0 and level 1
    # The street answers: no more reminders or escalations.
    workflow.reply_notice(db, principal=principal(db, "street"), notice=notice, reply="已组织整改")
    db.commit()
    clock.advance(days=10)
    before = len(events(db, task))
    scan_via_worker()
    assert len(events(db, task)) == before


def test_catching_up_turns_the_task_green_again(db, clock) -> None:
    task = make_task(db, code="SUP-2")
    clock.current = at("2026-03-20")
    supervision.scan(db)
    db.refresh(task)
    assert task.status == "yellow"
    workflow.report_progress(db, principal=principal(db, "street"), task=task, value=2, narrative="追赶进度")
    supervision.scan(db)
    db.refresh(task)
    assert (task.status, task.status_reason) == ("green", "on_track")
    statuses = [e.detail["to"] for e in events(db, task, "status")]
    assert statuses == ["yellow", "green"]


def test_scan_survives_a_restart_on_real_connections(live_db) -> None:
    """Committed to the database, read back by new engines: a restarted worker adds nothing."""
    from cityloop.core.db import reset_engines

    set_clock(FrozenClock(at("2026-03-10")))
    with session_scope(live_db) as s:
        task_id = make_task(s, code="SUP-3").id
    set_clock(FrozenClock(at("2026-04-03")))
    with session_scope(live_db) as s:
        first = supervision.scan(s)
    assert first.notices >= 1
    reset_engines()  # the "restart": every connection and cached engine gone
    with session_scope(live_db) as s:
        second = supervision.scan(s)
        assert second.notices == 0 and second.changed == 0 and second.escalations == 0
        count = s.scalar(select(func.count()).select_from(Notice).where(Notice.task_id == task_id))
        assert count == 1
        assert s.get(Task, task_id).status == "red"
