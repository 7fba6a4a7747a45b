"""Plan → dispatch → acceptance, and a problem struck off (销号), end to end through the API."""

from sqlalchemy import func, select

from cityloop.core.audit import AuditRecord
from cityloop.programme.models import Task
from tests.programme.conftest import person_in, upload

PLAN = {
    "action": "CWZL",
    "name": "杨家坪街道背街小巷违建整治(测试)",
    "indicator": "拆除违建",
    "indicator_unit": "处",
    "baseline": 0,
    "target_value": 10,
    "responsible_unit": "500107001000",
    "responsible_person": "王测试",
    "starts_on": "2026-03-01",
    "due_on": "2026-12-31",
    "milestones": [
        {"name": "摸排建档", "due_on": "2026-04-30", "planned_pct": 30},
        {"name": "集中拆除", "due_on": "2026-08-31", "planned_pct": 70},
        {"name": "完成验收", "due_on": "2026-12-31", "planned_pct": 100},
    ],
    "place": {"type": "LineString", "coordinates": [[106.510, 29.505], [106.514, 29.507]]},
    "site_plan": "一点一策:逐户约谈、分批拆除",
}


def checklist_answers(client, headers, action_id, result="ok"):
    action = client.get(f"/api/v1/programme/actions/{action_id}", headers=headers).json()
    answers = []
    for code in action["checklists"]:
        items = next(
            c for c in client.get("/api/v1/programme/checklists", headers=headers).json() if c["code"] == code
        )
        answers += [{"checklist": code, "item": i["code"], "result": result} for i in items["items"]]
    return answers


def test_plan_dispatch_accept(client, token_for, db) -> None:
    dept, street = token_for("department"), token_for("street")
    person_in(db, "500107001000", "王测试")
    db.commit()
    # Plan: the lead department (城市管理局 leads 拆违治乱) puts the task on the ledger.
    r = client.post("/api/v1/programme/tasks", headers=dept, json=PLAN)
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["state"] == "planned" and task["place_kind"] == "LineString" and task["site_plan"]
    ms = task["milestones"]
    assert [m["seq"] for m in ms] == [1, 2, 3] and task["responsible_person"]["name"] == "王测试"
    tid = task["id"]
    # Dispatch: the street reports, completing milestones with evidence.
    for value, milestone in ((3, ms[0]), (7, ms[1]), (10, ms[2])):
        ev = upload(client, street, task_id=tid)
        r = client.post(
            f"/api/v1/programme/tasks/{tid}/reports",
            headers=street,
            json={
                "value": value,
                "narrative": f"完成{milestone['name']}",
                "milestone_id": milestone["id"],
                "evidence": [ev],
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["evidence"][0]["filename"] == "现场.png"
    task = client.get(f"/api/v1/programme/tasks/{tid}", headers=street).json()
    assert task["state"] == "in_progress" and task["progress_pct"] == 100
    assert all(m["done_on"] for m in task["milestones"])
    assert (
        client.post(f"/api/v1/programme/tasks/{tid}/submit", headers=street, json={}).json()["state"]
        == "submitted"
    )
    # Acceptance fails first: the task goes back to the street.
    answers = checklist_answers(client, dept, task["action"]["id"])
    answers[-1]["result"] = "fail"
    ev = upload(client, dept, task_id=tid)
    r = client.post(
        f"/api/v1/programme/tasks/{tid}/acceptance",
        headers=dept,
        json={"passed": False, "results": answers, "evidence": [ev], "comment": "台账不全"},
    )
    assert r.status_code == 201, r.text
    task = client.get(f"/api/v1/programme/tasks/{tid}", headers=street).json()
    assert task["state"] == "returned" and task["returned_count"] == 1
    # Resubmitted and accepted.
    assert client.post(f"/api/v1/programme/tasks/{tid}/submit", headers=street, json={}).status_code == 200
    ev = upload(client, dept, task_id=tid)
    r = client.post(
        f"/api/v1/programme/tasks/{tid}/acceptance",
        headers=dept,
        json={
            "passed": True,
            "results": checklist_answers(client, dept, task["action"]["id"]),
            "evidence": [ev],
        },
    )
    assert r.status_code == 201 and r.json()["passed"] is True
    task = client.get(f"/api/v1/programme/tasks/{tid}", headers=street).json()
    assert task["state"] == "accepted" and task["status"] == "done"
    kinds = [i["kind"] for i in client.get(f"/api/v1/programme/tasks/{tid}/timeline", headers=street).json()]
    assert kinds.count("report") == 3 and kinds.count("acceptance") == 2 and kinds.count("submit") == 2
    # Every step is in the audit trail.
    actions = db.scalars(
        select(AuditRecord.action)
        .where(AuditRecord.entity_type == "task", AuditRecord.entity_id == str(tid))
        .order_by(AuditRecord.id)
    ).all()
    assert actions == ["create", "report", "report", "report", "submit", "reject", "submit", "accept"]


def test_problem_is_struck_off_with_evidence_by_an_approver(client, token_for, db) -> None:
    dept, street = token_for("department"), token_for("street")
    tid = db.scalar(
        select(Task.id)
        .where(Task.code.like("CWZL-%"), Task.responsible_unit.has(code="500107001000"))
        .limit(1)
    )
    assert tid, "the demo gives 杨家坪街道 a 拆违治乱 task"
    r = client.post(
        "/api/v1/programme/problems",
        headers=dept,
        json={
            "task_id": tid,
            "title": "拆除后建筑垃圾未清运",
            "deadline": "2099-01-31",
            "source": "inspection",
        },
    )
    assert r.status_code == 201, r.text
    problem = r.json()
    assert problem["state"] == "open" and problem["number"].startswith("WT2026-")
    ev = upload(client, street, problem_id=problem["id"])
    r = client.post(
        f"/api/v1/programme/problems/{problem['id']}/rectify",
        headers=street,
        json={"rectification": "已清运完毕", "evidence": [ev]},
    )
    assert r.status_code == 200 and r.json()["state"] == "rectified"
    before = db.scalar(select(func.count()).select_from(AuditRecord))
    assert (
        client.post(f"/api/v1/programme/problems/{problem['id']}/close", headers=street, json={}).status_code
        == 403
    )
    assert db.scalar(select(func.count()).select_from(AuditRecord)) == before
    r = client.post(
        f"/api/v1/programme/problems/{problem['id']}/close", headers=dept, json={"note": "复核通过"}
    )
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["state"] == "closed" and closed["approver_name"] == "城市管理局工作人员"
    assert [e["filename"] for e in closed["evidence"]] == ["现场.png"]
    timeline = client.get(f"/api/v1/programme/tasks/{tid}/timeline", headers=street).json()
    assert any(i["kind"] == "problem_closed" and problem["number"] in i["text"] for i in timeline)
