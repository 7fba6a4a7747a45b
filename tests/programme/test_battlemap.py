"""The battle map's data: compact rows, filters, the Gantt rows and the per-action charts."""

from sqlalchemy import func, select

from cityloop.programme.models import Action, Task
from tests.programme.conftest import make_task


def rows(client, headers, query=""):
    body = client.get(f"/api/v1/programme/map{query}", headers=headers).json()
    fields = body["fields"]
    return [dict(zip(fields, r, strict=True)) for r in body["rows"]], body


def test_rows_are_compact_and_carry_shapes_for_lines_and_areas(client, token_for, db) -> None:
    h = token_for("supervisor")
    data, body = rows(client, h)
    assert (
        body["count"]
        == len(data)
        == db.scalar(select(func.count()).select_from(Task).where(Task.lon.is_not(None)))
    )
    assert set(body["fields"]) >= {"id", "status", "lon", "lat", "action", "unit"}
    kinds = {r["kind"] for r in data}
    assert {"Point", "LineString", "Polygon"} <= kinds
    shaped = {int(k) for k in body["shapes"]}
    assert shaped == {r["id"] for r in data if r["kind"] != "Point"}
    assert all(106 < r["lon"] < 107 and 29 < r["lat"] < 30 for r in data)
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
