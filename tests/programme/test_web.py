"""The programme's pages: forms with evidence uploads, the ledger pages, notices, settings, the
home links of each role, both languages."""

import re

from sqlalchemy import select

from cityloop.programme import workflow
from cityloop.programme.models import Evidence, Notice, Problem
from tests.org.test_web_auth import sign_in
from tests.programme.conftest import PNG, make_task, principal


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_home_offers_the_programme_to_its_roles(client) -> None:
    for username in ("supervisor", "leader", "department", "street"):
        sign_in(client, username)
        home = client.get("/").text
        assert 'href="/programme/map"' in home and "挂图作战" in home and "督导周报" in home
    assert 'href="/programme/ledger"' not in client.get("/").text  # the street does not import ledgers
    sign_in(client, "supervisor")
    assert 'href="/programme/ledger"' in client.get("/").text
    sign_in(client, "dispatcher")
    assert 'href="/programme/map"' not in client.get("/").text


def test_report_accept_and_strike_off_through_the_forms(client, db) -> None:
    task = make_task(db, code="WEB-1")
    sign_in(client, "street")
    for m, value in zip(task.milestones, (3, 7, 10), strict=True):
        page = client.get(f"/programme/tasks/{task.id}")
        r = client.post(
            f"/programme/tasks/{task.id}/report",
            data={
                "csrf": csrf_of(page.text),
                "value": str(value),
                "narrative": "完成",
                "milestone_id": str(m.id),
            },
            files=[("files", ("现场照片.png", PNG, "image/png"))],
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
    page = client.get(f"/programme/tasks/{task.id}")
    assert "现场照片.png" in page.text and 'id="submit-form"' in page.text
    client.post(f"/programme/tasks/{task.id}/submit", data={"csrf": csrf_of(page.text)})
    sign_in(client, "department")
    page = client.get(f"/programme/tasks/{task.id}")
    assert 'id="accept-form"' in page.text
    radios = set(re.findall(r'name="(r:[^"]+)"', page.text))
    assert radios == {"r:ys-general:1", "r:ys-general:2", "r:ys-general:3"}
    form = {"csrf": csrf_of(page.text), "verdict": "pass", "comment": "", **{k: "ok" for k in radios}}
    no_file = client.post(f"/programme/tasks/{task.id}/accept", data=form)
    assert no_file.status_code == 422 and "须上传佐证材料" in no_file.text
    r = client.post(
        f"/programme/tasks/{task.id}/accept",
        data=form,
        files=[("files", ("验收.png", PNG, "image/png"))],
        follow_redirects=False,
    )
    assert r.status_code == 303
    db.refresh(task)
    assert task.state == "accepted" and task.status == "done"
    # A problem raised from the task page, rectified by the street, struck off by the department.
    page = client.get(f"/programme/tasks/{task.id}")
    r = client.post(
        f"/programme/tasks/{task.id}/problems",
        data={
            "csrf": csrf_of(page.text),
            "title": "验收后复查发现围挡未拆",
            "deadline": "2099-01-01",
            "source": "inspection",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    problem = db.scalar(select(Problem).where(Problem.task_id == task.id))
    sign_in(client, "street")
    page = client.get(f"/programme/problems/{problem.id}")
    client.post(
        f"/programme/problems/{problem.id}/rectify",
        data={"csrf": csrf_of(page.text), "rectification": "已拆除"},
        files=[("files", ("拆除后.png", PNG, "image/png"))],
    )
    sign_in(client, "department")
    page = client.get(f"/programme/problems/{problem.id}")
    assert 'id="close-form"' in page.text and "拆除后.png" in page.text
    r = client.post(
        f"/programme/problems/{problem.id}/close", data={"csrf": csrf_of(page.text), "note": "复核通过"}
    )
    assert r.status_code == 200 and "已销号" in r.text
    db.refresh(problem)
    assert problem.state == "closed" and problem.approver_name == "城市管理局工作人员"
    files = db.scalars(select(Evidence.filename).where(Evidence.task_id == task.id)).all()
    assert sorted(files) == ["现场照片.png", "现场照片.png", "现场照片.png", "验收.png"]


def test_a_notice_is_answered_from_the_notices_page(client, db) -> None:
    task = make_task(db, code="WEB-2")
    notice = Notice(
        number="DB-TEST-1",
        task_id=task.id,
        cause="due",
        to_unit_id=task.responsible_unit_id,
        issued_at=task.created_at,
        reply_due_at=task.created_at,
    )
    db.add(notice)
    db.commit()
    sign_in(client, "street")
    page = client.get("/programme/notices")
    assert "DB-TEST-1" in page.text and f'action="/programme/notices/{notice.id}/reply"' in page.text
    r = client.post(
        f"/programme/notices/{notice.id}/reply", data={"csrf": csrf_of(page.text), "reply": "本周完成"}
    )
    assert r.status_code == 200
    db.refresh(notice)
    assert notice.state == "replied" and notice.replier_name == "杨家坪街道工作人员"


def test_settings_change_the_weights_and_refuse_nonsense(client, db) -> None:
    sign_in(client, "supervisor")
    page = client.get("/programme/settings")
    form = dict(re.findall(r'name="([sw]:[a-z_]+)" value="([^"]+)"', page.text))
    form.update({"csrf": csrf_of(page.text), "w:completion": "0.5"})
    assert client.post("/programme/settings", data=form, follow_redirects=False).status_code == 303
    assert "0.5" in client.get("/programme/evaluation").text
    bad = {**form, "s:behind_margin_pct": "-3"}
    r = client.post("/programme/settings", data=bad)
    assert r.status_code == 422 and "behind_margin_pct" in r.text
    sign_in(client, "street")
    assert client.get("/programme/settings").status_code == 403


def test_pages_render_in_english(client, db) -> None:
    sign_in(client, "supervisor")
    client.get("/lang/en?next=/")
    for path, text in (
        ("/programme/map", "Battle map"),
        ("/programme/evaluation", "Honour list"),
        ("/programme/reports/weekly", "Weekly supervision report"),
        ("/programme/tasks", "Task ledger"),
        ("/programme/problems", "Problem ledger"),
    ):
        r = client.get(path)
        assert r.status_code == 200 and text in r.text, path


def test_weekly_report_is_printable_and_scoped(client, db) -> None:
    task = make_task(db, code="WEB-3", unit="500107002000")
    workflow.raise_problem(
        db,
        principal=principal(db, "supervisor"),
        task=task,
        title="黄桷坪专属问题",
        deadline=workflow.today(),
    )
    db.commit()
    sign_in(client, "street2")
    r = client.get("/programme/reports/weekly?week=2026-W48")
    assert r.status_code == 200 and "data-print" in r.text and "2026-11-23" in r.text  # page.js prints
    sign_in(client, "street")
    r = client.get("/programme/reports/weekly?week=2026-W48")
    assert "WEB-3" not in r.text
    r = client.get("/programme/reports/weekly?week=2026-W99")
    assert r.status_code == 422
