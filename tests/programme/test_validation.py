"""Bad input is refused with a clear 4xx in the user's language, and nothing is saved."""

import re

from sqlalchemy import func, select

from cityloop.core.audit import AuditRecord
from cityloop.programme import workflow
from cityloop.programme.models import Action, Problem, ProgressReport, Task
from tests.org.test_web_auth import sign_in
from tests.programme.conftest import make_task, person_in, principal, upload
from tests.programme.test_workflow import PLAN


def counts(db):
    return tuple(
        db.scalar(select(func.count()).select_from(m))
        for m in (Task, ProgressReport, Problem, Action, AuditRecord)
    )


def submitted_task(db):
    task = make_task(db, code="VAL-1")
    street = principal(db, "street")
    for m, value in zip(task.milestones, (3, 7, 10), strict=True):
        workflow.report_progress(
            db, principal=street, task=task, value=value, narrative="ok", milestone_id=m.id
        )
    workflow.submit_for_acceptance(db, principal=street, task=task)
    db.commit()
    return task


def test_milestones_out_of_order_are_refused_in_both_languages(client, token_for, db) -> None:
    dept = token_for("department")
    person_in(db, "500107001000", "王测试")
    db.commit()
    body = {**PLAN, "milestones": [dict(m) for m in PLAN["milestones"]]}
    body["milestones"][1]["due_on"] = "2026-04-15"  # before the first one
    before = counts(db)
    r = client.post("/api/v1/programme/tasks", headers=dept, json=body)
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "里程碑日期顺序错误:第 2 个(2026-04-15)不晚于前一个(2026-04-30)。"
    r = client.post("/api/v1/programme/tasks", headers={**dept, "Accept-Language": "en"}, json=body)
    assert "out of order: number 2 (2026-04-15)" in r.json()["error"]["message"]
    assert counts(db) == before


def test_progress_beyond_the_target_is_refused(client, token_for, db) -> None:
    task = make_task(db, code="VAL-2", baseline=120, target=40)  # a falling target: complaints per month
    street = token_for("street")
    before = counts(db)
    for value in (130, 39.5):
        r = client.post(
            f"/api/v1/programme/tasks/{task.id}/reports",
            headers=street,
            json={"value": value, "narrative": "x"},
        )
        assert r.status_code == 422
        assert r.json()["error"]["message"] == f"指标值 {value} 超出范围:应在 40 与 120 处 之间。"
    assert counts(db) == before
    db.refresh(task)
    assert task.current_value == 120 and task.state == "planned"


def test_acceptance_without_evidence_is_refused(client, token_for, db) -> None:
    task = submitted_task(db)
    dept = token_for("department")
    before = counts(db)
    r = client.post(
        f"/api/v1/programme/tasks/{task.id}/acceptance",
        headers=dept,
        json={
            "passed": True,
            "results": [{"checklist": "ys-general", "item": str(i), "result": "ok"} for i in (1, 2, 3)],
        },
    )
    assert r.status_code == 422 and r.json()["error"]["message"] == "须上传佐证材料。"
    assert counts(db) == before
    db.refresh(task)
    assert task.state == "submitted"


def test_acceptance_must_answer_every_checklist_item(client, token_for, db) -> None:
    task = submitted_task(db)
    dept = token_for("department")
    ev = upload(client, dept, task_id=task.id)
    r = client.post(
        f"/api/v1/programme/tasks/{task.id}/acceptance",
        headers=dept,
        json={
            "passed": True,
            "results": [{"checklist": "ys-general", "item": "1", "result": "ok"}],
            "evidence": [ev],
        },
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"] == {"missing": ["ys-general/2", "ys-general/3"]}


def test_strike_off_without_evidence_is_refused(client, token_for, db) -> None:
    task = make_task(db, code="VAL-3")
    dept = principal(db, "department")
    problem = workflow.raise_problem(db, principal=dept, task=task, title="问题", deadline=workflow.today())
    db.commit()
    headers = token_for("department")
    before = counts(db)
    r = client.post(f"/api/v1/programme/problems/{problem.id}/close", headers=headers, json={})
    assert r.status_code == 422 and r.json()["error"]["message"] == "须上传佐证材料。"
    assert counts(db) == before
    db.refresh(problem)
    assert problem.state == "open" and problem.closed_at is None


def test_action_without_a_lead_unit_is_refused(client, token_for, db) -> None:
    headers = token_for("supervisor")
    before = counts(db)
    r = client.post("/api/v1/programme/actions", headers=headers, json={"code": "NEW", "name": "新行动"})
    assert r.status_code == 422 and r.json()["error"]["message"] == "行动必须指定牵头部门。"
    assert counts(db) == before


def test_a_milestone_cannot_be_marked_done_short_of_its_plan(client, token_for, db) -> None:
    task = make_task(db, code="VAL-4")
    r = client.post(
        f"/api/v1/programme/tasks/{task.id}/reports",
        headers=token_for("street"),
        json={"value": 2, "narrative": "x", "milestone_id": task.milestones[0].id},
    )
    assert r.status_code == 422 and "未达到第 1 个里程碑的计划进度 30.0%" in r.json()["error"]["message"]


def test_scripts_are_not_accepted_as_evidence(client, token_for, db) -> None:
    task = make_task(db, code="VAL-5")
    r = client.post(
        "/api/v1/programme/evidence",
        headers=token_for("street"),
        data={"task_id": str(task.id)},
        files={"file": ("x.svg", b"<svg onload=alert(1)>", "image/svg+xml")},
    )
    assert r.status_code == 422


def test_replan_with_a_stale_version_is_a_conflict(client, token_for, db) -> None:
    task = make_task(db, code="VAL-6")
    body = {
        "version": task.version + 5,
        "milestones": [{"name": "验收", "due_on": "2026-06-30", "planned_pct": 100}],
    }
    r = client.put(
        f"/api/v1/programme/tasks/{task.id}/milestones", headers=token_for("department"), json=body
    )
    assert r.status_code == 409
    ok = client.put(
        f"/api/v1/programme/tasks/{task.id}/milestones",
        headers=token_for("department"),
        json={**body, "version": task.version},
    )
    assert ok.status_code == 200 and [m["name"] for m in ok.json()["milestones"]] == ["验收"]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_task_form_shows_the_order_error_in_the_users_language(client, db) -> None:
    person_in(db, "500107001000", "王测试")
    db.commit()
    sign_in(client, "department")
    form = {
        "action": "CWZL", "name": "表单任务", "indicator": "点位", "indicator_unit": "处", "baseline": "0",
        "target_value": "5", "responsible_unit": "500107001000", "responsible_person": "王测试",
        "starts_on": "2026-03-01", "due_on": "2026-09-30",
        "ms_name": ["一", "二"], "ms_due": ["2026-06-01", "2026-05-01"],
        "ms_pct": ["50", "100"], "ms_deliverable": ["", ""],
    }  # fmt: skip
    before = counts(db)
    for lang, text in (("zh-CN", "里程碑日期顺序错误"), ("en", "Milestone dates are out of order")):
        client.get(f"/lang/{lang}?next=/")
        page = client.get("/programme/tasks/new")
        r = client.post("/programme/tasks", data={**form, "csrf": csrf_of(page.text)})
        assert r.status_code == 422 and text in r.text and 'role="alert"' in r.text
        assert 'value="表单任务"' in r.text  # what was typed is kept
    assert counts(db) == before


def test_report_form_beyond_bounds_shows_the_error_on_the_task_page(client, db) -> None:
    task = make_task(db, code="VAL-7")
    sign_in(client, "street")
    page = client.get(f"/programme/tasks/{task.id}")
    r = client.post(
        f"/programme/tasks/{task.id}/report",
        data={"csrf": csrf_of(page.text), "value": "11", "narrative": "超额"},
        files={"files": ("", b"", "application/octet-stream")},
    )
    assert r.status_code == 422 and "指标值 11 超出范围" in r.text
    assert (
        db.scalar(select(func.count()).select_from(ProgressReport).where(ProgressReport.task_id == task.id))
        == 0
    )
