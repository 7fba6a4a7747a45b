"""Indicators: exact numbers on a hand-made month of cases (frozen clock), scope, the API, Excel, the CLI.

The month is March 2031 (display zone +08:00), far from the demo's own cases. Category SJ0102 (暴露垃圾):
registration 30 min, dispatch 30 min after registration, handling 4 h after dispatch, round the clock.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

import pytest

from cityloop.cases import indicators as ind
from cityloop.cases import service
from cityloop.cases.models import Case
from cityloop.cases.workflow import ActionInput
from cityloop.core.clock import FrozenClock, set_clock
from cityloop.org import service as org
from tests.cases.helpers import YJP, point_in
from tests.org.test_web_auth import sign_in

T0 = datetime(2031, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Chongqing
DEPT = "dept-cgj"


class World:
    def __init__(self, db: Any, clock: FrozenClock) -> None:
        self.db, self.clock = db, clock
        self.p = {
            u: org.principal_for(org.get_user(db, username=u))
            for u in ("citizen", "dispatcher", "street", "department", "inspector")
        }
        self.lon, self.lat = point_in(db, f"{YJP}-C1-G1")

    def at(self, when: datetime) -> None:
        self.clock.current = when

    def later(self, **kw: float) -> None:
        self.clock.advance(**kw)

    def report(self, *, hotline: bool = False) -> Case:
        actor = self.p["dispatcher"] if hotline else self.p["citizen"]
        new = service.NewCase(
            category="SJ0102",
            lon=self.lon,
            lat=self.lat,
            source="hotline_12345" if hotline else None,
            description="垃圾",
        )
        return service.intake(self.db, actor=actor, report=new).case

    def do(self, case: Case, action: str, who: str = "dispatcher", **kw: Any) -> Case:
        kw.setdefault("note", "x") if action in ("feedback", "progress") else None
        if action in ("void", "verify_fail", "request_extension", "return"):
            kw.setdefault("reason", "x")
        data = ActionInput(version=case.version, **kw)
        return service.apply_action(self.db, actor=self.p[who], case=case, action=action, data=data)

    def handle(self, case: Case, *, after_dispatch: float, unit: str = "street") -> None:
        """accept now; feedback ``after_dispatch`` hours after the dispatch."""
        self.do(case, "accept", unit)
        assert case.dispatched_at is not None
        self.at(case.dispatched_at + timedelta(hours=after_dispatch))
        self.do(case, "feedback", unit)

    def finish(self, case: Case, score: str | None = None, rater: str = "citizen") -> None:
        self.later(minutes=30)
        self.do(case, "verify_pass", "inspector")
        self.later(minutes=10)
        self.do(case, "close")
        if score:
            service.rate(self.db, actor=self.p[rater], case=case, score=score)


@pytest.fixture
def month(db: Any) -> dict[str, Case]:
    """Fourteen cases: every edge of every indicator (see the expected numbers in the first test)."""
    clock = FrozenClock(T0)
    set_clock(clock)
    w = World(db, clock)
    cases: dict[str, Case] = {}

    # 1 on time everywhere, 12345 ticket, answered in time, rated 满意 on the call-back.
    w.at(T0)
    c = cases["on_time"] = w.report(hotline=True)
    w.later(minutes=10)
    w.do(c, "register")
    w.later(minutes=10)
    w.do(c, "dispatch")
    w.handle(c, after_dispatch=2)
    w.finish(c, "satisfied", rater="dispatcher")

    # 2 dispatched 45 min after registration (late), fed back after 5 h (late); rated 不满意.
    w.at(T0 + timedelta(days=1))
    c = cases["late"] = w.report()
    w.later(minutes=40)
    w.do(c, "register")
    w.later(minutes=45)
    w.do(c, "dispatch")
    w.handle(c, after_dispatch=5)
    w.finish(c, "dissatisfied")

    # 3 an approved extension of 3 h: fed back after 6 h, on time against 4 + 3 h; rated 基本满意.
    w.at(T0 + timedelta(days=2))
    c = cases["extended"] = w.report()
    w.later(minutes=5)
    w.do(c, "register")
    w.later(minutes=5)
    w.do(c, "dispatch")
    w.do(c, "accept", "street")
    w.later(hours=1)
    w.do(c, "request_extension", "street", hours=3)
    w.later(minutes=10)
    w.do(c, "approve_extension")
    w.at(c.dispatched_at + timedelta(hours=6))
    w.do(c, "feedback", "street")
    w.finish(c, "basically_satisfied")

    # 4 12345 ticket registered after 40 min (response late); one failed verification (rework), then on
    # time against the rework's own deadline; closed, never rated.
    w.at(T0 + timedelta(days=3))
    c = cases["rework"] = w.report(hotline=True)
    w.later(minutes=40)
    w.do(c, "register")
    w.later(minutes=5)
    w.do(c, "dispatch")
    w.handle(c, after_dispatch=1)
    w.later(minutes=30)
    w.do(c, "verify_fail", "inspector")
    w.later(hours=1)
    w.do(c, "feedback", "street")
    w.finish(c)

    # 5 back in rework at the end of the month: dispatched on time, not handled.
    w.at(T0 + timedelta(days=4))
    c = cases["reworking"] = w.report()
    w.later(minutes=5)
    w.do(c, "register")
    w.later(minutes=5)
    w.do(c, "dispatch")
    w.handle(c, after_dispatch=1)
    w.later(minutes=30)
    w.do(c, "verify_fail", "citizen")

    # 6 registered, then merged into case 5 as a duplicate: counted only as merged.
    w.at(T0 + timedelta(days=5))
    c = cases["merged"] = w.report()
    w.later(minutes=5)
    w.do(c, "register")
    w.later(minutes=5)
    service.merge(db, actor=w.p["dispatcher"], parent=cases["reworking"], children=[(c, None)])

    # 7 12345 ticket voided after 5 min: answered in time, never registered.
    w.at(T0 + timedelta(days=6))
    c = cases["voided"] = w.report(hotline=True)
    w.later(minutes=5)
    w.do(c, "void")

    # 8 (counted last, see below) and 9: 12345 tickets never answered; 9 is past its deadline.
    w.at(T0 + timedelta(days=12) - timedelta(hours=2))
    cases["hotline_overdue"] = w.report(hotline=True)

    # 10 reported at 01:00 on 1 March in Chongqing (still 28 February in UTC): in March.
    w.at(datetime(2031, 2, 28, 17, 0, tzinfo=UTC))
    cases["first_hour"] = w.report()

    # 11 reported at 00:30 on 1 April in Chongqing (still 31 March in UTC): not in March.
    w.at(datetime(2031, 3, 31, 16, 30, tzinfo=UTC))
    c = cases["april"] = w.report()
    w.later(minutes=5)
    w.do(c, "register")

    # 12 dispatched to a department (区城市管理局), on time throughout, closed, not rated.
    w.at(T0 + timedelta(days=11))
    c = cases["department"] = w.report()
    w.later(minutes=5)
    w.do(c, "register")
    w.later(minutes=5)
    w.do(c, "dispatch", unit=DEPT)
    w.handle(c, after_dispatch=3, unit="department")
    w.finish(c)

    # 13 late in its first handling attempt (5 h of 4 h), failed verification, the rework fed back in
    # time: the last attempt alone would call it on time; the unit was late, so it is not.
    w.at(T0 + timedelta(days=8))
    c = cases["late_first"] = w.report()
    w.later(minutes=5)
    w.do(c, "register")
    w.later(minutes=5)
    w.do(c, "dispatch")
    w.handle(c, after_dispatch=5)
    w.later(minutes=30)
    w.do(c, "verify_fail", "inspector")
    w.later(hours=1)
    w.do(c, "feedback", "street")
    w.finish(c)

    # 14 dispatched late (45 min) to 区城市管理局, which sat on it past its handling deadline and returned
    # it as not theirs (an inaccurate dispatch, counted for the department); re-dispatched in time to the
    # street, which handled it in time: the street is judged on its own attempt only.
    w.at(T0 + timedelta(days=9))
    c = cases["returned"] = w.report()
    w.later(minutes=5)
    w.do(c, "register")
    w.later(minutes=45)
    w.do(c, "dispatch", unit=DEPT)
    w.do(c, "accept", "department")
    w.later(hours=5)
    w.do(c, "return", "department")
    w.later(minutes=10)
    w.do(c, "dispatch", unit=YJP)
    w.handle(c, after_dispatch=2)
    w.finish(c)

    # 8: reported 10 minutes before the figures are taken: its answer is not due yet.
    w.at(T0 + timedelta(days=12))
    cases["hotline_pending"] = w.report(hotline=True)
    w.later(minutes=10)
    db.flush()
    return cases


MARCH_TOTAL = {
    "reported": 13,
    "voided": 1,
    "merged": 1,
    "registered": 8,  # 1 2 3 4 5 12 13 14 (6 is merged)
    "dispatched": 9,  # the cases' 8 dispatches, and 14's first one, returned by the department
    "dispatched_on_time": 7,  # not 2, not 14's first
    "dispatched_accurately": 8,  # not 14's first
    "handled": 7,  # 1 2 3 4 12 13 14 (5 is back in rework)
    "handled_on_time": 5,  # not 2, not 13 (late in its first attempt); 3 thanks to its extension
    "extended": 1,  # 3
    "closed": 7,
    "closed_on_time": 4,  # 1 3 12 14; 2 and 13 handled late, 4 registered late
    "reworked": 2,  # 4 13 (5 is not handled)
    "rated": 3,
    "satisfied": 1,
    "basically_satisfied": 1,
    "dissatisfied": 1,
    "hotline": 5,  # 1 4 7 8 9
    "hotline_due": 4,  # 8 is not due yet
    "hotline_responded": 2,  # 1 and 7 (voided in time); 4 late; 9 never
    "hotline_registered": 2,
    "hotline_closed": 2,
    "hotline_rated": 1,
    "hotline_satisfied": 1,
}


def _counts(row: ind.Row) -> dict[str, int]:
    return {k: getattr(row.counts, k) for k in ind.COUNT_NAMES}


def test_every_count_and_rate_of_the_month_is_exact(db, month) -> None:
    w = ind.window(period="month", first="2031-03", last="2031-03")
    assert (w.first.isoformat(), w.last.isoformat()) == ("2031-03-01", "2031-03-31")
    res = ind.compute(db, principal=None, w=w, group_by="unit")
    assert _counts(res.total) == MARCH_TOTAL
    assert res.total.rates == {
        "dispatch_on_time": 7 / 9,
        "accurate_dispatch": 8 / 9,
        "handle_on_time": 5 / 7,
        "closure": 7 / 8,
        "close_on_time": 4 / 8,
        "rework": 2 / 7,
        "extension": 1 / 7,
        "satisfaction": 2 / 3,  # 基本满意 counts as satisfied
        "hotline_response": 2 / 4,
        "hotline_resolution": 2 / 2,
        "hotline_satisfaction": 1 / 1,
    }
    by_unit = {r.key: _counts(r) for r in res.rows}
    assert set(by_unit) == {YJP, DEPT}
    dept, street = by_unit[DEPT], by_unit[YJP]
    # The department: its case 12, and 14's dispatch it returned (late, inaccurate, never handled by it).
    assert {
        k: dept[k] for k in ("reported", "dispatched", "dispatched_on_time", "dispatched_accurately")
    } == {
        "reported": 1,
        "dispatched": 2,
        "dispatched_on_time": 1,
        "dispatched_accurately": 1,
    }
    assert (dept["handled"], dept["handled_on_time"], dept["closed"], dept["closed_on_time"]) == (1, 1, 1, 1)
    # The street: 14 counts as dispatched in time, accurately, handled and closed in time.
    assert street["reported"] == 12 and street["handled"] == 6 and street["handled_on_time"] == 4
    assert (street["dispatched"], street["dispatched_on_time"], street["dispatched_accurately"]) == (7, 6, 7)
    assert month["late_first"].handle_late and not month["returned"].handle_late
    assert month["extended"].handle_extended and not month["late"].handle_extended
    # The trend cuts the same cases by day: the zone edge case is on 1 March.
    daily = ind.compute(db, principal=None, w=w, group_by="street", trend_bucket="day").trend
    assert len(daily) == 31 and daily[0][0].label == "2031-03-01" and daily[0][1].reported == 1
    assert sum(c.reported for _, c in daily) == 13
    assert sum(c.dispatched for _, c in daily) == 9  # the returned dispatch in its case's day
    # April holds only case 11; street grouping puts every case in 杨家坪街道 (where they were reported).
    april = ind.compute(db, principal=None, w=ind.window(period="month", first="2031-04"), group_by="street")
    assert april.total.counts.reported == 1 and april.total.counts.registered == 1
    assert [r.key for r in ind.compute(db, principal=None, w=w, group_by="street").rows] == [YJP]


def test_a_period_with_nothing_has_no_rates(db, month) -> None:
    res = ind.compute(db, principal=None, w=ind.window(period="week", first="2031-05-05"), group_by="unit")
    assert res.rows == [] and res.total.counts.reported == 0
    assert set(res.total.rates.values()) == {None}


def test_periods_and_bad_input() -> None:
    set_clock(FrozenClock(datetime(2031, 3, 12, 20, 0, tzinfo=UTC)))  # Thursday 13 March 04:00 in Chongqing
    week = ind.window(period="week")
    assert (week.first.isoformat(), week.last.isoformat()) == ("2031-03-10", "2031-03-13")
    assert ind.window(period="day").first.isoformat() == "2031-03-13"
    assert ind.window(period="custom").first.isoformat() == "2031-02-12"
    assert [
        b.label
        for b in ind.buckets(ind.window(period="month", first="2030-12-15", last="2031-02-02"), "month")
    ] == [
        "2030-12",
        "2031-01",
        "2031-02",
    ]
    from cityloop.core.errors import ValidationFailed

    for kw in (
        {"period": "year"},
        {"first": "2031-02-30"},
        {"first": "2031-13"},
        {"first": "2031-03-10", "last": "2031-03-01"},
    ):
        with pytest.raises(ValidationFailed):
            ind.window(**kw)
    with pytest.raises(ValidationFailed):
        ind.buckets(ind.window(period="day", first="2020-01-01", last="2031-01-01"), "day")


def test_api_scope_by_role(client, token_for, db, month) -> None:
    url = "/api/v1/cases/indicators?period=month&from=2031-03-01&to=2031-03-31"
    for who in ("supervisor", "leader", "admin", "dispatcher"):
        r = client.get(url, headers=token_for(who))
        assert r.status_code == 200, (who, r.text)
        body = r.json()
        assert {row["key"] for row in body["rows"]} == {YJP, DEPT}
        assert body["total"]["counts"] == MARCH_TOTAL and body["total"]["rates"]["closure"] == round(7 / 8, 4)
        assert body["total"]["rates"]["accurate_dispatch"] == round(8 / 9, 4)
        assert body["rates"]["close_on_time"] == {
            "numerator": ["closed_on_time"],
            "denominator": "registered",
        }
    street = client.get(url, headers=token_for("street")).json()
    assert [r["key"] for r in street["rows"]] == [YJP] and street["total"]["counts"]["reported"] == 12
    dept = client.get(url, headers=token_for("department")).json()
    assert [r["key"] for r in dept["rows"]] == [DEPT] and dept["total"]["counts"]["reported"] == 1
    assert dept["total"]["counts"]["dispatched"] == 2 and dept["total"]["rates"]["accurate_dispatch"] == 0.5
    assert street["total"]["counts"]["dispatched"] == 7  # the street's scope holds no returned dispatch
    other = client.get(url, headers=token_for("street2")).json()
    assert other["rows"] == [] and other["total"]["counts"]["reported"] == 0
    for who in ("citizen", "inspector"):
        r = client.get(url, headers=token_for(who))
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert client.get(url).status_code == 401
    # A unit filter narrows inside the caller's scope; another subtree is 404, not a leak.
    only = client.get(url + f"&unit={DEPT}", headers=token_for("supervisor")).json()
    assert [r["key"] for r in only["rows"]] == [DEPT]
    assert client.get(url + f"&unit={DEPT}", headers=token_for("street")).status_code == 404
    trend = "/api/v1/cases/indicators/trend?period=month&from=2031-01&to=2031-04"
    months = client.get(trend, headers=token_for("supervisor")).json()["trend"]
    assert [(m["label"], m["counts"]["reported"]) for m in months] == [
        ("2031-01", 0),
        ("2031-02", 0),
        ("2031-03", 13),
        ("2031-04", 1),
    ]
    mine = client.get(trend, headers=token_for("department")).json()["trend"]
    assert [m["counts"]["reported"] for m in mine] == [0, 0, 1, 0]
    assert [m["counts"]["dispatched"] for m in mine] == [0, 0, 2, 0]
    assert client.get(trend, headers=token_for("citizen")).status_code == 403
    by_street = client.get(url + "&group_by=street", headers=token_for("supervisor")).json()
    assert [r["key"] for r in by_street["rows"]] == [YJP]
    assert by_street["trend"][0]["label"] == "2031-03" and by_street["trend"][0]["counts"]["reported"] == 13


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("period=year", 422),
        ("from=2031-02-31", 422),
        ("from=2031-03-10&to=2031-03-01", 422),
        ("group_by=category", 422),
        ("period=day&from=2000-01-01&to=2031-01-01&trend=day", 422),
        ("unit=nope", 404),
    ],
)
def test_api_bad_input_is_a_clear_4xx(client, token_for, query, code) -> None:
    r = client.get(f"/api/v1/cases/indicators?{query}", headers=token_for("supervisor"))
    assert r.status_code == code, r.text
    assert set(r.json()["error"]) == {"code", "message", "details"}


def test_excel_has_a_sheet_per_grouping_the_trend_and_the_definitions(client, token_for, db, month) -> None:
    from openpyxl import load_workbook

    r = client.get(
        "/api/v1/cases/indicators.xlsx?period=month&from=2031-03&to=2031-03",
        headers={**token_for("supervisor"), "Accept-Language": "en"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxml")
    assert "case-indicators-2031-03-01-2031-03-31.xlsx" in r.headers["content-disposition"]
    wb = load_workbook(BytesIO(r.content))
    assert wb.sheetnames == ["By unit", "By street or town", "Trend", "Definitions"]
    ws = wb["By unit"]
    head = [c.value for c in ws[2]]
    rows = {
        row[1] or row[0]: dict(zip(head, row, strict=True))
        for row in ws.iter_rows(min_row=3, values_only=True)
    }
    assert set(rows) == {YJP, DEPT, "Total"}
    total = rows["Total"]
    assert total["Closure rate %"] == 87.5 and total["Satisfaction %"] == 66.67 and total["Reported"] == 13
    assert total["12345 response %"] == 50.0 and total["Rework rate %"] == 28.57
    assert total["Accurate dispatch %"] == 88.89 and total["Dispatched accurately"] == 8
    assert total["On-time closure %"] == 50.0 and total["Closed on time"] == 4
    assert total["Extension rate %"] == 14.29 and total["Extended"] == 1
    street_rows = list(wb["By street or town"].iter_rows(min_row=3, values_only=True))
    assert [r[1] for r in street_rows] == [YJP, None]
    trend = list(wb["Trend"].iter_rows(min_row=2, values_only=True))
    assert trend[0][0] == "2031-03" and len(trend) == 1
    defs = {row[0]: row for row in wb["Definitions"].iter_rows(min_row=2, values_only=True) if row and row[0]}
    assert defs["Satisfaction"][1] == "Satisfied + Basically satisfied / Rated"
    assert "basically satisfied counts in full" in defs["Satisfaction"][2]
    # A unit's staff get only their subtree in the workbook too.
    mine = load_workbook(
        BytesIO(
            client.get(
                "/api/v1/cases/indicators.xlsx?from=2031-03&to=2031-03", headers=token_for("department")
            ).content
        )
    )
    assert [r[1] for r in mine.worksheets[0].iter_rows(min_row=3, values_only=True)] == [DEPT, None]
    assert client.get("/api/v1/cases/indicators.xlsx", headers=token_for("citizen")).status_code == 403


def test_page_scope_and_content(client, db, month) -> None:
    assert client.get("/cases/indicators", follow_redirects=False).status_code in (303, 307)
    sign_in(client, "supervisor")
    page = client.get("/cases/indicators?period=month&from=2031-03-01&to=2031-03-31")
    assert page.status_code == 200
    html = page.text
    assert "按时派遣率" in html and "区城市管理局" in html and "杨家坪街道" in html
    assert (
        'id="chart-groups"' in html
        and "/api/v1/cases/indicators.xlsx?period=month&amp;from=2031-03-01" in html
    )
    assert "87.5%" in html  # closure rate of the total
    assert "准确派遣率" in html and "按期结案率" in html and "延期率" in html and "88.9%" in html


def test_page_for_a_unit_shows_its_subtree_only_and_refuses_others(client, db, month) -> None:
    sign_in(client, "department")
    html = client.get("/cases/indicators?from=2031-03-01&to=2031-03-31").text
    assert "区城市管理局" in html and "杨家坪街道</td>" not in html
    client.cookies.clear()
    sign_in(client, "citizen")
    assert client.get("/cases/indicators").status_code == 403


def test_cli_prints_the_table_and_writes_the_workbook(db, month, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from cityloop.cli import app

    db.commit()  # the CLI opens its own session (on the test's connection)
    out = tmp_path / "ind.xlsx"
    runner = CliRunner()
    r = runner.invoke(
        app,
        ["cases", "indicators", "--from", "2031-03", "--to", "2031-03", "--lang", "en", "--xlsx", str(out)],
    )
    assert r.exit_code == 0, r.output
    assert (
        "Cases reported 2031-03-01 to 2031-03-31" in r.output
        and "87.5%" in r.output
        and "88.9%" in r.output  # 准确派遣率 of the total
        and "区城市管理局" in r.output
    )
    assert out.stat().st_size > 0
    bad = runner.invoke(app, ["cases", "indicators", "--period", "year"])
    assert bad.exit_code == 2 and "period" in bad.output.lower()


def test_page_bad_input_is_a_clear_error_and_english_works(client, db, month) -> None:
    sign_in(client, "leader")
    assert 'href="/cases/indicators"' in client.get("/").text  # the leader's home links the dashboard
    bad = client.get("/cases/indicators?from=2031-02-31")
    assert bad.status_code == 422 and "2031-02-31" in bad.text
    client.get("/lang/en?next=/")
    html = client.get("/cases/indicators?period=week&from=2031-03-10&group_by=street").text
    assert "On-time dispatch" in html and "Cases reported 2031-03-10 to 2031-03-16" in html
    chart = json.loads(html.split('id="indicator-data">')[1].split("</script>")[0])  # |tojson: & as \u0026
    assert chart["trend_url"] == "/api/v1/cases/indicators/trend?period=month&from=2030-04-01&to=2031-03-16"
