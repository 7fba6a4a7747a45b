"""Hotspots from cases (worker job), the tasks they propose to an action, the task force's decision,
and the before/after counts on the task page."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from cityloop.core.audit import Actor
from cityloop.insight import service
from cityloop.insight.models import InsightHotspot, InsightProposal
from cityloop.org import service as org
from cityloop.org.models import Unit
from cityloop.programme.models import Task
from tests.cases.helpers import YJP, report

GRID = f"{YJP}-C1-G1"
TEXT = "幸福小区门口机动车长期乱停放在人行道上，行人无法通行"


@pytest.fixture
def hotspot(client: Any, db: Any, token_for: Any) -> dict[str, Any]:
    """Five parking reports at one place, the worker job run once, and a task-force account per action."""
    h = token_for("citizen")
    ids = [
        report(client, h, db, grid=GRID, category="SJ0505", description=TEXT, shift=i * 0.00005).json()["id"]
        for i in range(5)
    ]
    from cityloop.worker.runner import jobs

    assert jobs()["insight.hotspots"].fn(db) > 0
    db.commit()
    for username, code in (("tf_parking", "tf-tczl"), ("tf_noise", "tf-njaj")):
        unit = db.execute(select(Unit).where(Unit.code == code)).scalar_one()
        person = org.create_person(db, actor=Actor("test"), name=f"{username} 负责人", unit=unit)
        org.create_user(
            db,
            actor=Actor("test"),
            username=username,
            password="a-long-test-password",
            role="department",
            unit=unit,
            person=person,
        )
    db.commit()
    spot = next(s for s in db.execute(select(InsightHotspot)).scalars() if set(ids) <= set(s.members))
    proposal = db.execute(select(InsightProposal).where(InsightProposal.hotspot_key == spot.key)).scalar_one()
    return {"ids": ids, "spot": spot, "proposal": proposal}


def test_the_worker_finds_the_hotspot_locates_it_and_proposes_to_parking(hotspot: dict[str, Any]) -> None:
    spot, proposal = hotspot["spot"], hotspot["proposal"]
    assert spot.reports >= 5 and spot.located_by == "cases" and spot.lon is not None
    assert proposal.action.code == "TCZL" and proposal.state == "proposed"


def test_a_second_refresh_does_not_propose_again(db: Any, hotspot: dict[str, Any]) -> None:
    before = db.scalar(select(InsightProposal.id).order_by(InsightProposal.id.desc()).limit(1))
    service.refresh_hotspots(db)
    after = db.scalar(select(InsightProposal.id).order_by(InsightProposal.id.desc()).limit(1))
    assert before == after


@pytest.mark.parametrize(
    ("username", "visible"),
    [("dispatcher", True), ("leader", True), ("street", True), ("street2", False)],
)
def test_hotspot_scope(
    client: Any, token_for: Any, hotspot: dict[str, Any], username: str, visible: bool
) -> None:
    r = client.get("/api/v1/insight/hotspots?limit=1000", headers=token_for(username))
    assert r.status_code == 200
    assert (hotspot["spot"].key in [h["key"] for h in r.json()]) is visible


@pytest.mark.parametrize("username", ["citizen", "inspector", "operator"])
def test_hotspots_refused(client: Any, token_for: Any, username: str) -> None:
    assert client.get("/api/v1/insight/hotspots", headers=token_for(username)).status_code == 403


def test_hotspot_page_shows_map_and_ranking(client: Any, token_for: Any, hotspot: dict[str, Any]) -> None:
    r = client.get("/insight/hotspots", headers=token_for("supervisor"))
    assert r.status_code == 200 and 'id="hotspot-table"' in r.text and 'id="map"' in r.text
    assert 'id="proposal-table"' in r.text  # the office decides proposals here


@pytest.mark.parametrize(
    ("username", "visible"),
    [("admin", True), ("supervisor", True), ("tf_parking", True), ("tf_noise", False), ("department", False)],
)
def test_proposal_scope(
    client: Any, token_for: Any, hotspot: dict[str, Any], username: str, visible: bool
) -> None:
    r = client.get("/api/v1/insight/proposals", headers=token_for(username))
    assert r.status_code == 200
    assert (hotspot["proposal"].id in [p["id"] for p in r.json()]) is visible


@pytest.mark.parametrize("username", ["dispatcher", "leader", "citizen"])
def test_proposals_refused(client: Any, token_for: Any, hotspot: dict[str, Any], username: str) -> None:
    h = token_for(username)
    pid = hotspot["proposal"].id
    assert client.get("/api/v1/insight/proposals", headers=h).status_code == 403
    assert (
        client.post(f"/api/v1/insight/proposals/{pid}/accept", headers=h, json={"version": 1}).status_code
        == 403
    )


def test_another_task_force_cannot_decide(client: Any, token_for: Any, hotspot: dict[str, Any]) -> None:
    pid = hotspot["proposal"].id
    h = token_for("tf_noise")
    assert (
        client.post(f"/api/v1/insight/proposals/{pid}/accept", headers=h, json={"version": 1}).status_code
        == 404
    )
    r = client.post(f"/api/v1/insight/proposals/{pid}/dismiss", headers=h, json={"version": 1, "reason": "x"})
    assert r.status_code == 404


def test_the_task_force_accepts_a_one_place_one_plan_task_then_sees_before_after(
    client: Any, db: Any, token_for: Any, hotspot: dict[str, Any]
) -> None:
    pid, h = hotspot["proposal"].id, token_for("tf_parking")
    assert (
        client.post(f"/api/v1/insight/proposals/{pid}/accept", headers=h, json={"version": 9}).status_code
        == 409
    )
    r = client.post(f"/api/v1/insight/proposals/{pid}/accept", headers=h, json={"version": 1})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "accepted"
    task = db.get(Task, r.json()["task_id"])
    assert task.action.code == "TCZL" and task.place["type"] == "Point" and "一点一策" in task.site_plan
    assert len(task.milestones) == 3
    again = client.post(f"/api/v1/insight/proposals/{pid}/accept", headers=h, json={"version": 2})
    assert again.status_code == 409

    ba = client.get(f"/api/v1/insight/tasks/{task.id}/before-after?weeks=4", headers=h)
    assert ba.status_code == 200, ba.text
    body = ba.json()
    assert body["pivot_basis"] == "proposal_accepted" and body["before_total"] >= 5
    assert len(body["weeks"]) == 8 and body["after_weeks"] == 1
    assert body["categories"] == ["SJ0505"]
    page = client.get(f"/programme/tasks/{task.id}", headers=token_for("supervisor"))
    assert page.status_code == 200 and 'id="before-after"' in page.text


def test_dismissal_needs_a_reason_and_is_final(client: Any, token_for: Any, hotspot: dict[str, Any]) -> None:
    pid, h = hotspot["proposal"].id, token_for("supervisor")
    r = client.post(f"/api/v1/insight/proposals/{pid}/dismiss", headers=h, json={"version": 1, "reason": ""})
    assert r.status_code == 422
    r = client.post(
        f"/api/v1/insight/proposals/{pid}/dismiss", headers=h, json={"version": 1, "reason": "已纳入年度计划"}
    )
    assert r.status_code == 200 and r.json()["state"] == "dismissed"
    r = client.post(f"/api/v1/insight/proposals/{pid}/accept", headers=h, json={"version": 2})
    assert r.status_code == 409


@pytest.mark.parametrize(("username", "status"), [("street2", 404), ("citizen", 403), ("dispatcher", 403)])
def test_before_after_scope(client: Any, db: Any, token_for: Any, username: str, status: int) -> None:
    task = db.execute(select(Task).where(Task.lon.is_not(None)).order_by(Task.id)).scalars().first()
    assert task is not None
    # street2 (黄桷坪) must not see a task of another responsible unit or an action it does not lead.
    from cityloop.org.service import get_user, principal_for
    from cityloop.programme.permissions import task_filter

    p = principal_for(get_user(db, username=username)) if username != "citizen" else None
    if p is not None and username == "street2":
        visible = db.execute(select(Task.id).where(Task.lon.is_not(None), task_filter(p))).scalars().all()  # type: ignore[arg-type]
        task = (
            db.execute(select(Task).where(Task.lon.is_not(None), Task.id.not_in(visible)).order_by(Task.id))
            .scalars()
            .first()
        )
    r = client.get(f"/api/v1/insight/tasks/{task.id}/before-after", headers=token_for(username))
    assert r.status_code == status, r.text


def test_before_after_of_a_demo_task_uses_its_action_categories(client: Any, db: Any, token_for: Any) -> None:
    task = (
        db.execute(select(Task).join(Task.action).where(Task.lon.is_not(None)).order_by(Task.id))
        .scalars()
        .first()
    )
    r = client.get(f"/api/v1/insight/tasks/{task.id}/before-after", headers=token_for("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["pivot_basis"] in ("acceptance_passed", "task_start")


def test_gazetteer_places_known_names(db: Any) -> None:
    from cityloop.insight import gazetteer

    gaz = gazetteer.load(db)
    unit = db.execute(select(Unit).where(Unit.code == YJP)).scalar_one()
    found = gaz.find(f"{unit.name}某某路口")
    assert found is not None and found.name == unit.name and found.kind == "street"


def test_reports_without_coordinates_are_geocoded_from_the_gazetteer(
    client: Any, db: Any, token_for: Any
) -> None:
    unit = db.execute(select(Unit).where(Unit.code == YJP)).scalar_one()
    h = token_for("dispatcher")
    ids = []
    for i in range(3):
        body = {
            "category": "SJ0505",
            "source": "hotline_12345",
            "description": f"{unit.name}幸福路口机动车长期乱停放，堵塞交通，第{i + 1}次反映",
            "address": f"{unit.name}幸福路口",
        }
        r = client.post("/api/v1/cases", headers=h, json=body)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    service.refresh_hotspots(db)
    spot = next(s for s in db.execute(select(InsightHotspot)).scalars() if set(ids) <= set(s.members))
    assert spot.located_by == "street" and spot.lon is not None and spot.street_id == unit.id


def test_without_anybody_in_the_task_force_the_lead_department_answers(
    client: Any, db: Any, token_for: Any, hotspot: dict[str, Any]
) -> None:
    from cityloop.org.models import Person

    tf = db.execute(select(Unit).where(Unit.code == "tf-tczl")).scalar_one()
    for p in db.execute(select(Person).where(Person.unit_id == tf.id)).scalars():
        p.active = False
    db.commit()
    pid = hotspot["proposal"].id
    r = client.post(
        f"/api/v1/insight/proposals/{pid}/accept", headers=token_for("supervisor"), json={"version": 1}
    )
    assert r.status_code == 200, r.text
    task = db.get(Task, r.json()["task_id"])
    assert task.responsible_unit_id == task.action.lead_unit_id
