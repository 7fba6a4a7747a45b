"""The three-tier chain on every endpoint: a street sees its own tasks and problems; a department
its own and what it leads; the task-force office (and leaders) everything. Out of scope reads are
404, writes 403/404, and a refused write changes nothing."""

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from cityloop.core.audit import AuditRecord
from cityloop.org.models import Unit
from cityloop.programme import workflow
from cityloop.programme.models import Action, Evidence, Notice, Problem, ProgressReport, Task
from tests.programme.conftest import make_task, principal, upload
from tests.programme.test_workflow import PLAN

YANGJIAPING, HUANGJUEPING = "500107001000", "500107002000"


def all_tasks(db):
    return {t.id: t for t in db.scalars(select(Task))}


def visible_to(db, unit_code):
    """The spec, written independently: responsible in the unit's subtree, or in an action it leads."""
    path = db.scalar(select(Unit.path).where(Unit.code == unit_code))
    out = set()
    for t in all_tasks(db).values():
        action: Action = t.action
        led = [u for u in (action.lead_unit, action.taskforce_unit) if u is not None]
        if t.responsible_unit.path.startswith(path) or any(u.path.startswith(path) for u in led):
            out.add(t.id)
    return out


def listed(client, headers):
    body = client.get("/api/v1/programme/tasks?limit=1000", headers=headers).json()
    return {t["id"] for t in body["items"]}, body["total"]


@pytest.fixture
def two_streets(db):
    """A task (with evidence, a problem and a notice) for each demo street."""
    out = {}
    supervisor = principal(db, "supervisor")
    for code in (YANGJIAPING, HUANGJUEPING):
        task = make_task(db, unit=code, code=f"SCOPE-{code[-6:-3]}")
        problem = workflow.raise_problem(
            db, principal=supervisor, task=task, title="范围测试", deadline=workflow.today()
        )
        notice = Notice(
            number=f"T-{code}",
            task_id=task.id,
            cause="test",
            to_unit_id=task.responsible_unit_id,
            issued_at=task.created_at,
            reply_due_at=task.created_at,
            state="open",
        )
        db.add(notice)
        db.commit()
        out[code] = {"task": task, "problem": problem, "notice": notice}
    return out


def test_each_tier_lists_exactly_its_tasks(client, token_for, db, two_streets) -> None:
    everything = set(all_tasks(db))
    for username, unit in (("street", YANGJIAPING), ("street2", HUANGJUEPING), ("department", "dept-cgj")):
        ids, total = listed(client, token_for(username))
        assert ids == visible_to(db, unit) and total == len(ids) and ids != everything
    street_ids, _ = listed(client, token_for("street"))
    assert two_streets[YANGJIAPING]["task"].id in street_ids
    assert two_streets[HUANGJUEPING]["task"].id not in street_ids
    dept_ids, _ = listed(client, token_for("department"))
    led = set(db.scalars(select(Task.id).join(Action).where(Action.code.in_(["CWZL", "KZFX"]))))
    assert led and led <= dept_ids  # 城市管理局 leads 拆违治乱 and 飞线整治: sees every task of both
    for username in ("supervisor", "leader", "admin"):
        assert listed(client, token_for(username))[0] == everything


def test_overviews_count_only_what_the_account_sees(client, token_for, db, two_streets) -> None:
    for username, unit in (("street", YANGJIAPING), ("department", "dept-cgj"), ("supervisor", "500107")):
        h = token_for(username)
        expected = visible_to(db, unit)
        assert set(client.get("/api/v1/programme/map", headers=h).json()["columns"]["id"]) == expected
        assert client.get("/api/v1/programme/map/timeline?limit=5", headers=h).json()["total"] == len(
            expected
        )
        stats = client.get("/api/v1/programme/stats", headers=h).json()
        assert sum(a["tasks"] for a in stats["actions"]) == len(expected)
        weekly = client.get("/api/v1/programme/reports/weekly", headers=h).json()
        assert sum(weekly["counts"].values()) == len(expected)
        ledger = load_workbook(io.BytesIO(client.get("/api/v1/programme/ledger.xlsx", headers=h).content))
        assert ledger["任务清单"].max_row - 1 == len(expected)
        problems = client.get("/api/v1/programme/problems", headers=h).json()
        notices = client.get("/api/v1/programme/notices", headers=h).json()
        if username == "street":
            assert problems and all(p["responsible_unit"]["code"].startswith(YANGJIAPING) for p in problems)
            assert notices and all(n["to_unit"]["code"].startswith(YANGJIAPING) for n in notices)


def test_out_of_scope_reads_are_not_found(client, token_for, db, two_streets) -> None:
    h = token_for("street")
    other = two_streets[HUANGJUEPING]
    tid, pid = other["task"].id, other["problem"].id
    ev_id = upload(client, token_for("supervisor"), task_id=tid)
    for path in (
        f"/api/v1/programme/tasks/{tid}",
        f"/api/v1/programme/tasks/{tid}/timeline",
        f"/api/v1/programme/tasks/{tid}/reports",
        f"/api/v1/programme/tasks/{tid}/acceptances",
        f"/api/v1/programme/problems/{pid}",
        f"/api/v1/programme/evidence/{ev_id}",
    ):
        r = client.get(path, headers=h)
        assert r.status_code == 404, path
    assert client.get(f"/api/v1/programme/evidence/{ev_id}", headers=token_for("street2")).content.startswith(
        b"\x89PNG"
    )


def write_counts(db):
    tables = [
        db.scalar(select(func.count()).select_from(m))
        for m in (Task, ProgressReport, Problem, Evidence, Action)
    ]
    open_notices = db.scalar(select(func.count()).select_from(Notice).where(Notice.state == "open"))
    return (*tables, db.scalar(select(func.count()).select_from(AuditRecord)), open_notices)


def test_out_of_scope_and_out_of_role_writes_change_nothing(client, token_for, db, two_streets) -> None:
    street, dept, dispatcher = token_for("street"), token_for("department"), token_for("dispatcher")
    own, other = two_streets[YANGJIAPING], two_streets[HUANGJUEPING]
    njaj_task = db.scalar(select(Task.id).join(Action).where(Action.code == "NJAJ").limit(1))
    dept_own = make_task(db, unit="dept-cgj", code="SCOPE-DEPT")  # 城市管理局 responsible itself
    workflow.raise_problem(
        db, principal=principal(db, "supervisor"), task=dept_own, title="自查", deadline=workflow.today()
    )
    db.commit()
    own_dept_problem = db.scalar(select(Problem.id).where(Problem.task_id == dept_own.id))
    t_other, p_other, n_other = other["task"].id, other["problem"].id, other["notice"].id
    ms = [{"name": "验收", "due_on": "2026-06-30", "planned_pct": 100}]
    attempts = [
        (street, "post", f"/api/v1/programme/tasks/{t_other}/reports", {"value": 1, "narrative": "x"}, 404),
        (street, "post", f"/api/v1/programme/tasks/{t_other}/submit", {}, 404),
        (street, "post", f"/api/v1/programme/problems/{p_other}/rectify", {"rectification": "x"}, 404),
        (street, "post", f"/api/v1/programme/notices/{n_other}/reply", {"reply": "x"}, 404),
        (
            street,
            "post",
            "/api/v1/programme/problems",
            {"task_id": own["task"].id, "title": "x", "deadline": "2099-01-01"},
            403,
        ),
        (street, "post", f"/api/v1/programme/problems/{own['problem'].id}/close", {}, 403),
        (
            street,
            "put",
            f"/api/v1/programme/tasks/{own['task'].id}/milestones",
            {"version": 1, "milestones": ms},
            403,
        ),
        (street, "post", "/api/v1/programme/tasks", PLAN, 403),
        (dept, "post", f"/api/v1/programme/tasks/{njaj_task}/reports", {"value": 1, "narrative": "x"}, 404),
        (
            dept,
            "post",
            "/api/v1/programme/problems",
            {"task_id": njaj_task, "title": "x", "deadline": "2099-01-01"},
            404,
        ),
        (dept, "post", f"/api/v1/programme/problems/{own_dept_problem}/close", {}, 403),  # no self-approval
        (dept, "post", "/api/v1/programme/supervision/scan", None, 403),
        (
            dept,
            "patch",
            "/api/v1/programme/programmes/tda-2026/settings",
            {"weights": {"completion": 1}},
            403,
        ),
        (dept, "post", "/api/v1/programme/actions", {"code": "X", "name": "x", "lead_unit": "dept-cgj"}, 403),
        (dept, "post", "/api/v1/programme/checklists", {"code": "x", "name": "x", "items": ["a"]}, 403),
        (dispatcher, "get", "/api/v1/programme/tasks", None, 403),
        (
            dispatcher,
            "post",
            f"/api/v1/programme/tasks/{t_other}/reports",
            {"value": 1, "narrative": "x"},
            403,
        ),
    ]
    before = write_counts(db)
    for headers, method, path, body, status in attempts:
        r = getattr(client, method)(path, headers=headers, **({"json": body} if body is not None else {}))
        assert r.status_code == status, (path, r.text)
    assert write_counts(db) == before


def test_a_department_cannot_accept_its_own_task(client, token_for, db) -> None:
    task = make_task(db, unit="dept-cgj", code="SCOPE-SELF")
    me = principal(db, "department")
    for m, value in zip(task.milestones, (3, 7, 10), strict=True):
        workflow.report_progress(db, principal=me, task=task, value=value, narrative="ok", milestone_id=m.id)
    workflow.submit_for_acceptance(db, principal=me, task=task)
    db.commit()
    ev = upload(client, token_for("department"), task_id=task.id)
    r = client.post(
        f"/api/v1/programme/tasks/{task.id}/acceptance",
        headers=token_for("department"),
        json={"passed": True, "results": [], "evidence": [ev]},
    )
    assert r.status_code == 403 and r.json()["error"]["message"] == "责任单位不能验收自己的任务。"
    db.refresh(task)
    assert task.state == "submitted"


@pytest.mark.parametrize("username", ["citizen", "inspector", "operator", "dispatcher"])
def test_roles_outside_the_programme_are_refused(client, token_for, username) -> None:
    h = token_for(username)
    for path in ("/api/v1/programme/tasks", "/api/v1/programme/map", "/api/v1/programme/evaluation"):
        assert client.get(path, headers=h).status_code == 403


def test_pages_follow_the_same_scope(client, db, two_streets) -> None:
    from tests.org.test_web_auth import sign_in

    sign_in(client, "street")
    other = two_streets[HUANGJUEPING]
    assert (
        client.get(f"/programme/tasks/{other['task'].id}", headers={"accept": "text/html"}).status_code == 404
    )
    assert (
        client.get(f"/programme/problems/{other['problem'].id}", headers={"accept": "text/html"}).status_code
        == 404
    )
    own = client.get(f"/programme/tasks/{two_streets[YANGJIAPING]['task'].id}")
    assert own.status_code == 200 and 'id="report-form"' in own.text and 'id="accept-form"' not in own.text
    listing = client.get("/programme/problems").text
    assert two_streets[YANGJIAPING]["problem"].number in listing
    assert two_streets[HUANGJUEPING]["problem"].number not in listing
