"""Issue #4 leftovers: several indicators per task (API, reports) and editing a task (PATCH)."""

from __future__ import annotations

from sqlalchemy import func, select

from cityloop.core.audit import AuditRecord
from cityloop.programme.models import ProgressReport, Task, TaskIndicator
from tests.programme.conftest import make_task, person_in
from tests.programme.test_workflow import PLAN

MORE = [
    {"name": "惠及居民", "unit": "人", "baseline": 0, "target_value": 5000},
    {"name": "投诉量", "unit": "件/月", "baseline": 40, "target_value": 10},  # a falling target
]


def counts(db):
    return tuple(
        db.scalar(select(func.count()).select_from(m))
        for m in (Task, TaskIndicator, ProgressReport, AuditRecord)
    )


def test_a_task_carries_several_indicators_and_reports_their_values(client, token_for, db) -> None:
    dept, street = token_for("department"), token_for("street")
    person_in(db, "500107001000", "王测试")
    db.commit()
    before = counts(db)
    for bad, field in (
        ([{**MORE[0], "name": "拆除违建"}], "重复"),  # the main indicator's name again
        ([MORE[0], {**MORE[1], "target_value": 40}], "目标值不能等于基线值"),
        ([{**MORE[0], "name": f"指标{i}"} for i in range(10)], "最多 10 个指标"),
    ):
        r = client.post("/api/v1/programme/tasks", headers=dept, json={**PLAN, "indicators": bad})
        assert r.status_code == 422 and field in r.json()["error"]["message"], r.text
    assert counts(db) == before
    r = client.post("/api/v1/programme/tasks", headers=dept, json={**PLAN, "indicators": MORE})
    assert r.status_code == 201, r.text
    task = r.json()
    assert [(i["seq"], i["name"], i["current_value"]) for i in task["indicators"]] == [
        (1, "拆除违建", 0),
        (2, "惠及居民", 0),
        (3, "投诉量", 40),
    ]
    url = f"/api/v1/programme/tasks/{task['id']}/reports"
    bad = client.post(url, headers=street, json={"value": 3, "narrative": "x", "indicators": {"3": 50}})
    assert bad.status_code == 422 and "50" in bad.json()["error"]["message"]
    unknown = client.post(url, headers=street, json={"value": 3, "narrative": "x", "indicators": {"9": 1}})
    assert unknown.status_code == 422
    ok = client.post(
        url, headers=street, json={"value": 3, "narrative": "进展", "indicators": {"2": 1200, "3": 31}}
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["indicator_values"] == {"2": 1200.0, "3": 31.0}
    shown = client.get(f"/api/v1/programme/tasks/{task['id']}", headers=dept).json()
    assert [i["current_value"] for i in shown["indicators"]] == [3, 1200, 31]
    assert shown["progress_pct"] == 30  # progress follows the main indicator


def test_editing_a_task_checks_scope_version_and_plan_and_is_audited(client, token_for, db) -> None:
    task = make_task(db, code="EDIT-1")
    url = f"/api/v1/programme/tasks/{task.id}"
    dept = token_for("department")
    body = {"version": task.version, "name": "改名后的任务", "indicators": MORE[:1]}
    # The street is responsible, not the lead: it may not edit the plan; other streets do not see it.
    assert client.patch(url, headers=token_for("street"), json=body).status_code == 403
    assert client.patch(url, headers=token_for("street2"), json=body).status_code == 404
    assert client.patch(url, headers=token_for("citizen"), json=body).status_code == 403
    before = counts(db)
    stale = client.patch(url, headers=dept, json={**body, "version": task.version + 1})
    assert stale.status_code == 409
    # Milestones end on 2026-06-30: the task cannot end before them.
    short = client.patch(url, headers=dept, json={**body, "due_on": "2026-05-31"})
    assert short.status_code == 422 and "2026-05-31" in short.json()["error"]["message"]
    same = client.patch(url, headers=dept, json={"version": task.version, "target_value": 0})
    assert same.status_code == 422  # target equals baseline
    unknown = client.patch(url, headers=dept, json={"version": task.version, "code": "X"})
    assert unknown.status_code == 422
    assert counts(db) == before
    ok = client.patch(url, headers=dept, json={**body, "target_value": 20, "place": None})
    assert ok.status_code == 200, ok.text
    out = ok.json()
    assert out["name"] == "改名后的任务" and out["target_value"] == 20 and out["place"] is None
    assert out["version"] == task.version + 1 and [i["name"] for i in out["indicators"]] == [
        "整治点位",
        "惠及居民",
    ]
    audit = db.scalar(
        select(AuditRecord)
        .where(AuditRecord.entity_type == "task", AuditRecord.entity_id == str(task.id))
        .order_by(AuditRecord.id.desc())
    )
    assert audit.action == "update" and audit.before["name"] != audit.after["name"]
    assert audit.after["indicators"][0]["name"] == "惠及居民"


def test_an_accepted_task_is_not_edited(client, token_for, db) -> None:
    task = make_task(db, code="EDIT-2")
    task.state = "accepted"
    db.commit()
    r = client.patch(
        f"/api/v1/programme/tasks/{task.id}",
        headers=token_for("department"),
        json={"version": task.version, "name": "x"},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "task_closed"


def test_the_task_form_takes_further_indicators_and_the_report_form_their_values(client, db) -> None:
    from tests.org.test_web_auth import csrf_of, sign_in

    person_in(db, "500107001000", "王测试")
    db.commit()
    sign_in(client, "department")
    form = {
        "action": "CWZL", "name": "表单多指标任务", "indicator": "点位", "indicator_unit": "处",
        "baseline": "0", "target_value": "5", "responsible_unit": "500107001000",
        "responsible_person": "王测试",
        "starts_on": "2026-03-01", "due_on": "2026-09-30",
        "ms_name": ["一", "二"], "ms_due": ["2026-05-01", "2026-09-30"], "ms_pct": ["50", "100"],
        "ms_deliverable": ["", ""], "more_indicators": "受益居民|户|0|300\n绿化面积|m²|0",
    }  # fmt: skip
    page = client.get("/programme/tasks/new")
    assert 'name="more_indicators"' in page.text
    before = counts(db)
    bad = client.post("/programme/tasks", data={**form, "csrf": csrf_of(page.text)})
    assert bad.status_code == 422 and "名称|单位|基线|目标" in bad.text and "绿化面积|m²|0" in bad.text
    assert counts(db) == before
    form["more_indicators"] = "受益居民|户|0|300\n绿化面积|m²|0|1200"
    ok = client.post("/programme/tasks", data={**form, "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert ok.status_code == 303, ok.text
    task = db.scalar(select(Task).where(Task.name == "表单多指标任务"))
    assert [(i.seq, i.name) for i in task.extra_indicators] == [(2, "受益居民"), (3, "绿化面积")]
    client.cookies.clear()
    sign_in(client, "street")
    page = client.get(f"/programme/tasks/{task.id}")
    assert 'id="more-indicators"' in page.text and 'name="ind_3"' in page.text
    r = client.post(
        f"/programme/tasks/{task.id}/report",
        data={"csrf": csrf_of(page.text), "value": "2", "narrative": "进展", "ind_2": "120", "ind_3": "400"},
        files={"files": ("", b"", "application/octet-stream")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    db.expire_all()
    assert [i.current_value for i in db.get(Task, task.id).extra_indicators] == [120, 400]
