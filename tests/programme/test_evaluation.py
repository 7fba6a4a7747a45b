"""Evaluation from the data: the four rates, the weighted score, the 红黑榜, the month, the export."""

import io
from datetime import date

import pytest
from openpyxl import load_workbook

from cityloop.org import service as org
from cityloop.programme import service
from cityloop.programme.evaluation import score_of
from cityloop.programme.models import Acceptance, Problem
from tests.programme.conftest import ACTOR, at, person_in
from tests.programme.conftest import make_task as _make_task


@pytest.fixture
def scenario(db):
    """A programme of one action with four tasks whose history is known to the day."""
    programme = service.create_programme(
        db, actor=ACTOR, code="eval-test", name="评价测试", year=2026, owner=org.find_unit(db, ref="gtf")
    )
    action = service.create_action(
        db,
        actor=ACTOR,
        programme=programme,
        data=service.ActionInput(code="EVA", name="评价行动", lead_unit=org.find_unit(db, ref="dept-jtj")),
    )
    db.commit()

    def task(unit, plan, done):
        t = _make_task(
            db,
            programme="eval-test",
            action="EVA",
            unit=unit,
            milestones=plan,
            starts="2026-03-01",
            due="2026-06-30",
        )
        assert t.action_id == action.id
        for m, day in zip(t.milestones, done, strict=True):
            m.done_on = date.fromisoformat(day) if day else None
        return t

    plan3 = [("一", "2026-03-31", 30.0), ("二", "2026-04-30", 60.0), ("三", "2026-05-31", 100.0)]
    task("500107001000", plan3, ["2026-03-30", "2026-05-05", None])
    task("500107001000-C1", [("一", "2026-04-15", 50.0), ("二", "2026-06-30", 100.0)], ["2026-04-10", None])
    t3 = task("500107002000", [("一", "2026-05-01", 100.0)], ["2026-05-01"])
    task("dept-jtj", [("一", "2026-05-20", 100.0)], [None])
    for passed, day in ((False, "2026-05-10"), (True, "2026-05-20")):
        db.add(Acceptance(task_id=t3.id, checked_at=at(day), checker_name="t", passed=passed, results=[]))
    for n, closed in enumerate((None, "2026-05-25")):
        db.add(
            Problem(
                programme_id=programme.id,
                action_id=action.id,
                task_id=t3.id,
                number=f"EV-{n}",
                source="inspection",
                title="p",
                responsible_unit_id=t3.responsible_unit_id,
                deadline=date(2026, 5, 30),
                state="closed" if closed else "open",
                raised_at=at("2026-05-02"),
                raiser_name="t",
                closed_at=at(closed) if closed else None,
            )
        )
    db.commit()
    return programme


def by_name(rows):
    return {r["name"]: r for r in rows}


def test_scores_are_computed_from_the_data(client, token_for, scenario) -> None:
    body = client.get(
        "/api/v1/programme/evaluation?programme=eval-test&month=2026-05", headers=token_for("street")
    ).json()
    assert body["as_of"] == "2026-05-31"
    streets = by_name(body["levels"]["street"])
    hjp, yjp = streets["黄桷坪街道"], streets["杨家坪街道"]
    assert hjp["counts"] == {
        "due": 1,
        "done": 1,
        "on_time": 1,
        "raised": 2,
        "closed": 1,
        "checks": 2,
        "passed": 1,
    }
    assert hjp["rates"] == {
        "completion": 1.0,
        "timeliness": 1.0,
        "problem_closure": 0.5,
        "acceptance_pass": 0.5,
    }
    assert hjp["score"] == 82.5 and hjp["rank"] == 1
    # A community's task counts for its street; rates without a denominator are left out of the score.
    assert (yjp["counts"]["due"], yjp["counts"]["done"], yjp["counts"]["on_time"]) == (4, 3, 2)
    assert yjp["rates"]["problem_closure"] is None and yjp["score"] == 63.5 and yjp["rank"] == 2
    dept = by_name(body["levels"]["department"])["区交通局"]
    assert dept["score"] == 0.0
    action = body["levels"]["action"][0]
    assert action["counts"]["due"] == 6 and action["score"] == 55.8


def test_an_earlier_month_counts_only_what_was_due_and_done_by_then(client, token_for, scenario) -> None:
    body = client.get(
        "/api/v1/programme/evaluation?programme=eval-test&month=2026-04", headers=token_for("leader")
    ).json()
    yjp = by_name(body["levels"]["street"])["杨家坪街道"]
    assert (yjp["counts"]["due"], yjp["counts"]["done"], yjp["counts"]["on_time"]) == (3, 2, 2)
    assert by_name(body["levels"]["street"])["黄桷坪街道"]["score"] is None  # nothing was due yet


def test_weights_and_list_size_are_data(client, token_for, db, scenario) -> None:
    h = token_for("supervisor")
    r = client.patch(
        "/api/v1/programme/programmes/eval-test/settings",
        headers=h,
        json={"weights": {"problem_closure": 0}, "supervision": {"ranking_size": 1}},
    )
    assert r.status_code == 200 and r.json()["weights"]["problem_closure"] == 0
    body = client.get("/api/v1/programme/evaluation?programme=eval-test&month=2026-05", headers=h).json()
    assert by_name(body["levels"]["street"])["黄桷坪街道"]["score"] == round(100 * 0.725 / 0.8, 1)
    assert [s["name"] for s in body["red_list"]["street"]] == ["黄桷坪街道"]
    assert [s["name"] for s in body["black_list"]["street"]] == ["杨家坪街道"]
    bad = client.patch(
        "/api/v1/programme/programmes/eval-test/settings", headers=h, json={"weights": {"speed": 1}}
    )
    assert bad.status_code == 422


def test_the_excel_export_carries_scores_and_lists(client, token_for, scenario) -> None:
    r = client.get(
        "/api/v1/programme/evaluation.xlsx?programme=eval-test&month=2026-05", headers=token_for("street")
    )
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["红黑榜", "行动", "部门", "街镇"]
    rows = {row[1]: row for row in wb["街镇"].iter_rows(min_row=2, values_only=True)}
    assert rows["黄桷坪街道"][:3] == (1, "黄桷坪街道", 82.5)
    assert rows["黄桷坪街道"][3:7] == (100.0, 100.0, 50.0, 50.0)


def test_the_excel_export_in_english_names_its_sheets_as_excel_allows(client, token_for, scenario) -> None:
    """“Streets/towns” holds a character Excel refuses in a sheet name; the export answered 500 in English."""
    r = client.get(
        "/api/v1/programme/evaluation.xlsx?programme=eval-test&month=2026-05",
        headers={**token_for("street"), "Accept-Language": "en"},
    )
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["Lists", "Actions", "Departments", "Streets·towns"]
    rows = {row[1]: row for row in wb["Streets·towns"].iter_rows(min_row=2, values_only=True)}
    assert rows["黄桷坪街道"][:3] == (1, "黄桷坪街道", 82.5)


def test_bad_month_is_refused(client, token_for) -> None:
    r = client.get("/api/v1/programme/evaluation?month=2026-13", headers=token_for("supervisor"))
    assert r.status_code == 422 and "2026-06" in r.json()["error"]["message"]


def test_score_formula() -> None:
    weights = {"completion": 0.35, "timeliness": 0.30, "problem_closure": 0.20, "acceptance_pass": 0.15}
    assert (
        score_of({"completion": 1, "timeliness": 1, "problem_closure": 1, "acceptance_pass": 1}, weights)
        == 100
    )
    assert (
        score_of(
            {"completion": None, "timeliness": None, "problem_closure": None, "acceptance_pass": None},
            weights,
        )
        is None
    )
    assert (
        score_of(
            {"completion": 0.5, "timeliness": None, "problem_closure": None, "acceptance_pass": None}, weights
        )
        == 50
    )


def test_evaluation_page_shows_both_lists(client, db, scenario) -> None:
    from tests.org.test_web_auth import sign_in

    person_in(db, "500107001000")
    sign_in(client, "department")
    page = client.get("/programme/evaluation?month=2026-05")
    assert page.status_code == 200 and "红榜" in page.text and "黑榜" in page.text
    # The export follows the programme shown (the switcher's choice).
    assert 'href="/api/v1/programme/evaluation.xlsx?month=2026-05&amp;programme=' in page.text


def test_pages_read_the_workers_snapshot_until_it_is_refreshed(client, token_for, db, scenario) -> None:
    from cityloop.programme import evaluation
    from cityloop.programme.models import Task

    h = token_for("supervisor")
    url = "/api/v1/programme/evaluation?programme=eval-test&month=2026-05"
    assert client.get(url, headers=h).json()["computed_at"] is None  # nothing stored yet: live
    evaluation.snapshot(db, programme=scenario, month="2026-05", today=date(2026, 11, 28))
    db.commit()
    stored = client.get(url, headers=h).json()
    assert stored["computed_at"].endswith("+08:00")
    assert by_name(stored["levels"]["street"])["黄桷坪街道"]["score"] == 82.5
    # A late completion changes the facts: the snapshot keeps its numbers until the next refresh.
    dept_task = (
        db.query(Task)
        .filter(Task.programme_id == scenario.id, Task.responsible_unit.has(code="dept-jtj"))
        .one()
    )
    dept_task.milestones[0].done_on = date(2026, 5, 19)
    db.commit()
    assert by_name(client.get(url, headers=h).json()["levels"]["department"])["区交通局"]["score"] == 0.0
    fresh = client.get(url + "&fresh=true", headers=h).json()
    assert (
        fresh["computed_at"] is None and by_name(fresh["levels"]["department"])["区交通局"]["score"] == 100.0
    )
    from cityloop.worker import runner

    assert runner.run_once(only={"programme.evaluation"})["programme.evaluation"] > 0
    assert evaluation.previous_month(date(2026, 1, 15)) == "2025-12"
