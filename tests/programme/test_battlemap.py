"""The battle map's data: compact rows, filters, the Gantt rows and the per-action charts."""

from sqlalchemy import func, select

from cityloop.programme.models import Action, Task
from tests.programme.conftest import make_task


def rows(client, headers, query=""):
    """The columnar payload turned back into one dict per task."""
    body = client.get(f"/api/v1/programme/map{query}", headers=headers).json()
    cols = body["columns"]
    return [dict(zip(cols, values, strict=True)) for values in zip(*cols.values(), strict=True)], body


def test_rows_are_compact_and_carry_shapes_for_lines_and_areas(client, token_for, db) -> None:
    h = token_for("supervisor")
    data, body = rows(client, h)
    assert (
        body["count"]
        == len(data)
        == db.scalar(select(func.count()).select_from(Task).where(Task.lon.is_not(None)))
    )
    assert set(body["columns"]) >= {"id", "status", "lon_e5", "lat_e5", "action", "unit"}
    kinds = {r["kind"] for r in data}
    assert {"Point", "LineString", "Polygon"} <= kinds
    shaped = {int(k) for k in body["shapes"]}
    assert shaped == {r["id"] for r in data if r["kind"] != "Point"}
    assert all(10_600_000 < r["lon_e5"] < 10_700_000 and 2_900_000 < r["lat_e5"] < 3_000_000 for r in data)
    no_shapes = client.get("/api/v1/programme/map?shapes=false", headers=h).json()
    assert "shapes" not in no_shapes


def test_filters_narrow_the_map(client, token_for, db) -> None:
    h = token_for("supervisor")
    everything, _ = rows(client, h)
    cwzl = db.scalar(select(Action.id).where(Action.code == "CWZL"))
    by_action, _ = rows(client, h, "?action=CWZL")
    assert by_action and {r["action"] for r in by_action} == {cwzl} and len(by_action) < len(everything)
    red, _ = rows(client, h, "?status=red")
    assert red and {r["status"] for r in red} == {"red"}
    both, _ = rows(client, h, "?action=CWZL&status=red")
    assert {r["id"] for r in both} == {r["id"] for r in by_action} & {r["id"] for r in red}
    # A street filter includes the tasks of its communities.
    task = make_task(db, unit="500107001000-C1", code="MAP-1")
    street, _ = rows(client, h, "?unit=500107001000")
    assert task.id in {r["id"] for r in street}
    assert task.id not in {r["id"] for r in rows(client, h, "?unit=500107002000")[0]}


def test_gantt_rows_put_the_most_urgent_first(client, token_for, db) -> None:
    h = token_for("supervisor")
    body = client.get("/api/v1/programme/map/timeline?limit=20", headers=h).json()
    assert body["shown"] == 20 and body["total"] == db.scalar(select(func.count()).select_from(Task))
    order = {"red": 0, "yellow": 1, "green": 2, "done": 3}
    ranks = [order[t["status"]] for t in body["tasks"]]
    assert ranks == sorted(ranks) and body["tasks"][0]["status"] == "red"
    assert all(t["milestones"] and t["person"] for t in body["tasks"])


def test_charts_sum_to_the_tasks_shown(client, token_for, db) -> None:
    h = token_for("supervisor")
    stats = client.get("/api/v1/programme/stats", headers=h).json()
    assert len(stats["actions"]) == 10
    assert sum(sum(a["counts"].values()) for a in stats["actions"]) == db.scalar(
        select(func.count()).select_from(Task)
    )
    assert len(stats["planned"]) == 12 and sum(stats["planned"]) >= sum(stats["done"]) > 0
    one = client.get("/api/v1/programme/stats?action=SHQ", headers=h).json()
    assert [a["name"] for a in one["actions"]] == ["“15分钟高品质生活服务圈”建设"]
    legend = client.get("/api/v1/programme/map/legend", headers=h).json()
    assert len(legend["actions"]) == 10 and any(u["code"] == "500107001000" for u in legend["units"])


def test_too_many_tasks_in_view_come_as_clusters(client, token_for, db) -> None:
    h = token_for("supervisor")
    everything, body = rows(client, h)
    assert body["mode"] == "tasks"
    clustered = client.get("/api/v1/programme/map?max_points=10&cell=0.05", headers=h).json()
    assert clustered["mode"] == "clusters" and clustered["count"] == len(everything)
    c = clustered["clusters"]
    assert sum(c["n"]) == len(everything) and 1 < len(c["n"]) < len(everything)
    assert sum(c["red"]) == sum(1 for r in everything if r["status"] == "red")
    # A small enough view holds few tasks again, and those come one by one.
    lon, lat = everything[0]["lon_e5"] / 1e5, everything[0]["lat_e5"] / 1e5
    box = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    zoomed = client.get(f"/api/v1/programme/map?max_points=10&bbox={box}", headers=h).json()
    assert zoomed["mode"] == "tasks" and 1 <= zoomed["count"] <= 10
    assert client.get("/api/v1/programme/map?bbox=1,2,3", headers=h).status_code == 422


def _reference(db, principal, **filters):
    """The monthly counts straight from the milestones (the text-filter path), for comparison."""
    from cityloop.programme import battlemap, service
    from cityloop.programme.service import TaskQuery

    programme = service.get_programme(db)
    visible = select(Task.id)
    for cond in service.task_conditions(principal, TaskQuery(programme_id=programme.id, **filters)):
        visible = visible.where(cond)
    return list(battlemap._monthly(db, visible, programme.year))


def test_chart_summary_matches_the_milestones_for_every_scope_and_follows_changes(
    client, token_for, db
) -> None:
    from sqlalchemy import update

    from cityloop.org import service as org
    from cityloop.programme import workflow

    cases = [
        ("supervisor", "", {}),
        (
            "supervisor",
            "?action=CWZL",
            {"action_id": db.scalar(select(Action.id).where(Action.code == "CWZL"))},
        ),
        ("supervisor", "?status=red", {"status": "red"}),
        ("department", "", {}),
        ("street", "", {}),
    ]
    for user, qs, filters in cases:
        principal = org.principal_for(org.get_user(db, username=user))
        body = client.get(f"/api/v1/programme/stats{qs}", headers=token_for(user)).json()
        assert [body["planned"], body["done"]] == _reference(db, principal, **filters), (user, qs)
    # A report that completes a milestone shows at once (the summary is rebuilt on change) …
    task = make_task(db, code="CHART-1")
    h = token_for("supervisor")
    before = client.get("/api/v1/programme/stats", headers=h).json()
    street = org.principal_for(org.get_user(db, username="street"))
    workflow.report_progress(
        db, principal=street, task=task, value=3, narrative="ok", milestone_id=task.milestones[0].id
    )
    db.commit()
    after = client.get("/api/v1/programme/stats", headers=h).json()
    assert sum(after["done"]) == sum(before["done"]) + 1
    # … and so does the supervision scan's bulk change of colour (no version bump).
    red = client.get("/api/v1/programme/stats?status=red", headers=h).json()
    db.execute(update(Task).where(Task.id == task.id).values(status="red"))
    db.commit()
    red_after = client.get("/api/v1/programme/stats?status=red", headers=h).json()
    assert sum(red_after["planned"]) == sum(red["planned"]) + len(task.milestones)
    supervisor = org.principal_for(org.get_user(db, username="supervisor"))
    assert [red_after["planned"], red_after["done"]] == _reference(db, supervisor, status="red")


def test_warming_builds_the_chart_summary_before_the_first_visit(db) -> None:
    from cityloop.programme import battlemap
    from cityloop.programme.models import Programme

    battlemap.clear_summaries()
    assert battlemap.warm(db) == db.scalar(select(func.count()).select_from(Programme))
    for programme in db.scalars(select(Programme)):
        assert programme.id in battlemap._SUMMARIES
