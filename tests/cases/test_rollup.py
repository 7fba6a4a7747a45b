"""Indicator roll-ups: identical to the live computation, refreshed by the job when a case changes,
12345 tickets whose answer falls due after the roll-up, and partial months computed live."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from cityloop.cases import indicators as ind
from cityloop.cases import rollup, service
from cityloop.cases.models import CaseRollup
from cityloop.cases.workflow import ActionInput
from cityloop.core.clock import FrozenClock, set_clock
from cityloop.org import service as org
from tests.cases.test_indicators import World, month  # noqa: F401 (the fixture)

AFTER = datetime(2031, 5, 10, 2, 0, tzinfo=UTC)
YEAR = ind.window(period="month", first="2030-06", last="2031-05-10")


def live(db: Any, w: ind.Window, principal: Any = None, unit: str | None = None) -> dict[str, Any]:
    """The live computation (no roll-ups)."""
    units = ind.scope_units(db, principal, unit)
    by = ind.grouped_many(db, w=w, units=units, group_bys=ind.GROUPS, rollups=False)
    return {
        **{g: sorted((r.key or "", r.counts) for r in rows) for g, rows in by.items()},
        "trend": [(b.label, c) for b, c in ind.trend(db, w=w, units=units, bucket="month", rollups=False)],
    }


def served(db: Any, w: ind.Window, principal: Any = None, unit: str | None = None) -> dict[str, Any]:
    res = ind.compute_many(db, principal=principal, w=w, unit=unit, trend_bucket="month")
    return {
        **{g: sorted((r.key or "", r.counts) for r in x.rows) for g, x in res.items()},
        "trend": [(b.label, c) for b, c in res["unit"].trend],
    }


def same(db: Any, w: ind.Window = YEAR) -> None:
    street = org.principal_for(org.get_user(db, username="street"))
    assert served(db, w) == live(db, w)
    assert served(db, w, street) == live(db, w, street)
    assert served(db, w, unit="dept-cgj") == live(db, w, unit="dept-cgj")


def test_rollups_match_live_and_follow_a_change(db, month) -> None:  # noqa: F811
    clock = FrozenClock(AFTER)
    set_clock(clock)
    before = live(db, YEAR)
    assert rollup.refresh(db) > 0
    part = rollup.split(db, YEAR.first, YEAR.last, YEAR.start, YEAR.end)
    assert date(2031, 3, 1) in part.months and date(2031, 4, 1) in part.months
    assert part.live[-1] == (rollup.bounds(date(2031, 5, 1))[0], YEAR.end)  # the current month: live
    assert served(db, YEAR) == before
    same(db)

    # A case of March changes after the roll-up: March is computed live until the job runs again.
    clock.advance(minutes=5)
    dispatcher = org.principal_for(org.get_user(db, username="dispatcher"))
    service.rate(db, actor=dispatcher, case=month["rework"], score="satisfied")  # a 12345 call-back
    db.flush()
    part = rollup.split(db, YEAR.first, YEAR.last, YEAR.start, YEAR.end)
    assert date(2031, 3, 1) not in part.months and date(2031, 4, 1) in part.months
    assert served(db, YEAR) != before
    same(db)
    clock.advance(minutes=5)
    assert rollup.refresh(db) == 1  # only March
    clock.advance(minutes=5)  # past the watermark's lag
    clock.advance(minutes=5)
    part = rollup.split(db, YEAR.first, YEAR.last, YEAR.start, YEAR.end)
    assert date(2031, 3, 1) in part.months
    same(db)
    rows = db.execute(rollup.summed(db, [date(2031, 3, 1)])).one()
    assert rows.satisfied == 2  # the roll-up itself was recomputed

    # Days that are not whole months are computed live.
    w = ind.window(period="custom", first="2031-03-05", last="2031-04-20")
    part = rollup.split(db, w.first, w.last, w.start, w.end)
    assert part.months == () and part.live == ((w.start, w.end),)
    same(db, w)


def test_a_ticket_falling_due_after_the_rollup(db) -> None:
    """Reported 23:50 on 30 April (Chongqing), answer due 00:20 on 1 May: rolled up at 00:05, April is
    computed live until 00:20, then served with the ticket counted as due."""
    clock = FrozenClock(datetime(2031, 4, 30, 15, 50, tzinfo=UTC))
    set_clock(clock)
    w_ = World(db, clock)
    w_.report(hotline=True)
    db.flush()
    clock.current = datetime(2031, 4, 30, 16, 5, tzinfo=UTC)
    april = ind.window(period="month", first="2031-04", last="2031-04")
    rollup.refresh(db)
    clock.advance(minutes=5)  # past the watermark
    assert rollup.split(db, april.first, april.last, april.start, april.end).months == ()
    same(db, april)
    assert served(db, april)["trend"][0][1].hotline_due == 0
    clock.current = datetime(2031, 4, 30, 16, 21, tzinfo=UTC)
    assert rollup.split(db, april.first, april.last, april.start, april.end).months == (date(2031, 4, 1),)
    same(db, april)
    assert served(db, april)["trend"][0][1].hotline_due == 1
    set_clock(None)
    clock.advance(hours=1)
    assert timedelta(0) < rollup.LAG


def test_an_import_marks_its_months_dirty(db, month) -> None:  # noqa: F811
    """Imported cases keep a historical updated_at: the importer marks their months, the job rolls them."""
    clock = FrozenClock(AFTER)
    set_clock(clock)
    rollup.refresh(db)
    clock.advance(minutes=5)
    march = ind.window(period="month", first="2031-03", last="2031-03")
    assert rollup.split(db, march.first, march.last, march.start, march.end).months == (date(2031, 3, 1),)
    rollup.mark_dirty(db, [datetime(2031, 3, 3, tzinfo=UTC), datetime(2029, 1, 3, tzinfo=UTC)])
    assert rollup.split(db, march.first, march.last, march.start, march.end).months == ()
    same(db, march)
    assert rollup.refresh(db) == 2  # March and January 2029 (a month with no rolled-up row before)
    clock.advance(minutes=5)
    assert rollup.split(db, march.first, march.last, march.start, march.end).months == (date(2031, 3, 1),)
    same(db, march)


def test_the_worker_runs_the_rollup_job(db, month) -> None:  # noqa: F811
    from cityloop.worker.runner import jobs, run_once

    assert jobs()["cases.rollup"].every_seconds == 60
    set_clock(FrozenClock(AFTER))
    assert run_once({"cases.rollup"})["cases.rollup"] > 0
    assert rollup.watermark(db) == AFTER - rollup.LAG


def test_rollups_hold_every_dispatch_attempt_and_follow_a_return(db, month) -> None:  # noqa: F811
    """The per-attempt counts (a returned dispatch for its unit, 准确派遣, 按期结案, 延期) are rolled up
    exactly; a return after the roll-up makes the month live until the job has rolled it again."""
    clock = FrozenClock(AFTER)
    set_clock(clock)
    rollup.refresh(db)
    clock.advance(minutes=5)
    march = ind.window(period="month", first="2031-03", last="2031-03")
    assert rollup.split(db, march.first, march.last, march.start, march.end).months == (date(2031, 3, 1),)
    rolled = db.execute(rollup.summed(db, [date(2031, 3, 1)])).one()
    assert (rolled.dispatched, rolled.dispatched_on_time, rolled.dispatched_accurately) == (9, 7, 8)
    assert (rolled.handled_on_time, rolled.closed_on_time, rolled.extended) == (5, 4, 1)
    dept = db.execute(
        rollup.summed(db, [date(2031, 3, 1)]).where(ind.units_clause(ind.scope_units(db, None, "dept-cgj"),
                                                                      CaseRollup.unit_id))
    ).one()  # fmt: skip
    assert (dept.dispatched, dept.dispatched_accurately) == (2, 1)  # 14's returned dispatch is the dept's
    same(db, march)

    # The street returns case 5 (back in rework) as not theirs: one more inaccurate dispatch in March.
    clock.advance(minutes=5)
    street = org.principal_for(org.get_user(db, username="street"))
    c = month["reworking"]
    service.apply_action(
        db, actor=street, case=c, action="return", data=ActionInput(version=c.version, reason="非本单位")
    )
    db.flush()
    assert rollup.split(db, march.first, march.last, march.start, march.end).months == ()
    live_now = served(db, march)
    assert live_now == live(db, march)
    total = ind.compute(db, principal=None, w=march, group_by="unit").total.counts
    assert (total.dispatched, total.dispatched_accurately) == (9, 7)  # its dispatch moved to a return row
    clock.advance(minutes=5)
    assert rollup.refresh(db) == 1
    clock.advance(minutes=5)
    assert rollup.split(db, march.first, march.last, march.start, march.end).months == (date(2031, 3, 1),)
    assert served(db, march) == live_now
    same(db, march)
