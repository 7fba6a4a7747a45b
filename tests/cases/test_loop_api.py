"""The closed loop through the API: each role does its step; the table refuses everything else."""

from sqlalchemy import func, select

from cityloop.cases.models import Case, CaseStep, Notification, Rating
from cityloop.core.audit import AuditRecord
from tests.cases.helpers import HJP, YJP, act, report


def _steps(db, case_id):
    stmt = select(CaseStep.step, CaseStep.outcome).where(CaseStep.case_id == case_id).order_by(CaseStep.id)
    return [tuple(r) for r in db.execute(stmt)]


def test_the_whole_loop_with_rework_closure_and_rating(client, token_for, db) -> None:
    citizen, dispatcher, street = token_for("citizen"), token_for("dispatcher"), token_for("street")
    case = report(client, citizen, db).json()
    case = act(client, dispatcher, case, "register").json()
    assert case["state"] == "registered" and case["registered_at"]
    case = act(client, dispatcher, case, "dispatch", public_note="已派杨家坪街道").json()
    assert case["state"] == "dispatched" and case["unit"]["code"] == YJP and case["handle_due_at"]
    assert "accept" in case["allowed_actions"] or True  # the dispatcher sees their own actions
    case = act(client, street, case, "accept").json()
    assert case["state"] == "handling" and case["accepted_at"]
    case = act(client, street, case, "progress", note="已联系环卫").json()
    assert case["state"] == "handling"
    case = act(client, street, case, "feedback", note="已清运", public_note="垃圾已清运").json()
    assert case["state"] == "feedback"
    # The reporter looks and is not satisfied: back to the street, counted as rework.
    case = act(client, citizen, case, "verify_fail", reason="还有一半没清").json()
    assert case["state"] == "handling" and case["rework_count"] == 1
    case = act(client, street, case, "feedback", note="全部清运完毕").json()
    case = act(client, token_for("inspector"), case, "verify_pass").json()
    assert case["state"] == "verified" and case["verified_at"]
    case = act(client, dispatcher, case, "close", public_note="已办结").json()
    assert case["state"] == "closed" and case["status"] == "closed" and case["due_at"] is None
    r = client.post(f"/api/v1/cases/{case['id']}/rating", headers=citizen, json={"score": "satisfied"})
    assert r.status_code == 201 and r.json()["channel"] == "citizen"
    again = client.post(f"/api/v1/cases/{case['id']}/rating", headers=citizen, json={"score": "dissatisfied"})
    assert again.status_code == 409
    assert _steps(db, case["id"]) == [
        ("register", "done"),
        ("dispatch", "done"),
        ("handle", "done"),
        ("verify", "failed"),
        ("handle", "done"),
        ("verify", "passed"),
    ]
    assert db.scalar(select(Rating.score).where(Rating.case_id == case["id"])) == "satisfied"
    closed_notice = db.execute(select(Notification).where(Notification.case_id == case["id"])).scalar_one()
    assert closed_notice.kind == "closed" and closed_notice.audience == "reporter"
    actions = (
        db.execute(
            select(AuditRecord.action)
            .where(AuditRecord.entity_type == "case", AuditRecord.entity_id == str(case["id"]))
            .order_by(AuditRecord.id)  # PostgreSQL returns heap order otherwise, not insertion order
        )
        .scalars()
        .all()
    )
    assert actions[0] == "case.report" and "case.close" in actions and "case.rate" in actions


def test_void_needs_a_reason_and_ends_the_case(client, token_for, db) -> None:
    dispatcher = token_for("dispatcher")
    case = report(client, token_for("citizen"), db).json()
    missing = act(client, dispatcher, case, "void")
    assert missing.status_code == 422 and "reason" in missing.json()["error"]["message"]
    voided = act(client, dispatcher, case, "void", reason="非城市管理问题").json()
    assert voided["state"] == "voided" and voided["voided_at"] and voided["due_at"] is None
    late = act(client, dispatcher, voided, "register")
    assert late.status_code == 409 and late.json()["error"]["code"] == "transition_refused"


def test_illegal_transitions_are_409_with_the_reason_and_change_nothing(client, token_for, db) -> None:
    dispatcher = token_for("dispatcher")
    case = report(client, token_for("citizen"), db).json()
    for action in ("dispatch", "close", "feedback", "verify_pass", "approve_extension"):
        r = act(client, dispatcher, case, action, note="x", reason="x")
        assert r.status_code == 409, (action, r.text)
        err = r.json()["error"]
        assert err["code"] == "transition_refused" and err["details"] == {
            "state": "reported",
            "action": action,
        }
    assert act(client, dispatcher, case, "fly").status_code == 422
    assert db.get(Case, case["id"]).version == case["version"]


def test_the_wrong_role_gets_403(client, token_for, db) -> None:
    case = report(client, token_for("citizen"), db).json()
    for user in ("street", "inspector", "citizen", "admin"):
        r = act(client, token_for(user), case, "register")
        assert r.status_code in (403, 404), (user, r.text)
    r = act(client, token_for("street"), case, "register")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_a_stale_version_is_409_and_the_newer_write_survives(client, token_for, db) -> None:
    dispatcher = token_for("dispatcher")
    case = report(client, token_for("citizen"), db).json()
    registered = act(client, dispatcher, case, "register").json()
    stale = act(client, dispatcher, case, "dispatch", version=case["version"])
    assert (
        stale.status_code == 409
        and stale.json()["error"]["details"]["current_version"] == registered["version"]
    )
    assert db.get(Case, case["id"]).state == "registered"


def _in_handling(client, token_for, db, **kw):
    dispatcher = token_for("dispatcher")
    case = report(client, token_for("citizen"), db, **kw).json()
    case = act(client, dispatcher, case, "register").json()
    case = act(client, dispatcher, case, "dispatch").json()
    return act(client, token_for("street"), case, "accept").json()


def test_extension_request_approved_moves_the_deadline(client, token_for, db) -> None:
    street, dispatcher = token_for("street"), token_for("dispatcher")
    case = _in_handling(client, token_for, db)
    due = case["handle_due_at"]
    no_hours = act(client, street, case, "request_extension", reason="需要协调产权单位")
    assert no_hours.status_code == 422
    case = act(client, street, case, "request_extension", hours=48, reason="需要协调产权单位").json()
    assert case["state"] == "extension_requested"
    assert act(client, street, case, "approve_extension").status_code == 403
    case = act(client, dispatcher, case, "approve_extension").json()
    assert case["state"] == "handling" and case["extension_count"] == 1 and case["handle_due_at"] > due
    step = db.execute(
        select(CaseStep).where(CaseStep.case_id == case["id"], CaseStep.done_at.is_(None))
    ).scalar_one()
    assert step.allowed_minutes == (4 + 48) * 60  # 暴露垃圾: 4 h, plus the 48 h granted


def test_extension_denied_keeps_the_deadline(client, token_for, db) -> None:
    street, dispatcher = token_for("street"), token_for("dispatcher")
    case = _in_handling(client, token_for, db)
    case = act(client, street, case, "request_extension", hours=8, reason="r").json()
    case = act(client, dispatcher, case, "deny_extension", reason="可当日完成").json()
    assert case["state"] == "handling" and case["extension_count"] == 0


def test_parking_stops_the_clock_until_resumed(client, token_for, db) -> None:
    street, dispatcher = token_for("street"), token_for("dispatcher")
    case = _in_handling(client, token_for, db)
    case = act(client, street, case, "request_park", reason="需纳入年度改造计划").json()
    assert case["state"] == "park_requested"
    case = act(client, dispatcher, case, "approve_park").json()
    assert case["state"] == "parked" and case["due_at"] is None
    case = act(client, dispatcher, case, "resume").json()
    assert case["state"] == "handling" and case["due_at"]
    assert [s for s, _ in _steps(db, case["id"])][-2:] == ["handle", "handle"]


def test_a_return_goes_back_to_the_dispatcher_for_another_unit(client, token_for, db) -> None:
    street, dispatcher = token_for("street"), token_for("dispatcher")
    case = _in_handling(client, token_for, db)
    assert act(client, street, case, "return").status_code == 422  # needs a reason
    case = act(client, street, case, "return", reason="属于城管局职责").json()
    assert case["state"] == "returned" and case["return_count"] == 1
    wrong = act(client, dispatcher, case, "dispatch", unit="500107001000-C1-G1")  # a grid cell cannot handle
    assert wrong.status_code == 422
    case = act(client, dispatcher, case, "dispatch", unit="dept-cgj").json()
    assert case["state"] == "dispatched" and case["unit"]["code"] == "dept-cgj"
    assert case["routing_reason"] == "dispatcher"
    assert act(client, street, case, "accept").status_code == 403  # no longer the street's case
    assert act(client, token_for("department"), case, "accept").json()["state"] == "handling"


def test_manual_queue_cases_need_a_unit_to_dispatch(client, token_for, db) -> None:
    dispatcher = token_for("dispatcher")
    case = report(client, dispatcher, db, category="SJ0513").json()
    case = act(client, dispatcher, case, "register").json()
    r = act(client, dispatcher, case, "dispatch")
    assert r.status_code == 422
    assert act(client, dispatcher, case, "dispatch", unit=f"enf-{HJP}").json()["unit"]["code"] == f"enf-{HJP}"


def test_register_can_correct_the_category_and_reroutes(client, token_for, db) -> None:
    dispatcher = token_for("dispatcher")
    case = report(client, token_for("citizen"), db, category="SJ0102").json()
    case = act(client, dispatcher, case, "register", category="SJ0505").json()
    assert case["category"]["code"] == "SJ0505" and case["unit"]["code"] == f"enf-{YJP}"


def test_merge_links_duplicates_and_tells_every_reporter_on_closure(client, token_for, db) -> None:
    dispatcher, street = token_for("dispatcher"), token_for("street")
    parent = report(client, token_for("inspector"), db).json()
    child = report(client, token_for("citizen"), db, shift=0.0001).json()
    assert child["possible_duplicate"]
    assert (
        client.post(
            f"/api/v1/cases/{parent['id']}/merge", headers=street, json={"children": [{"id": child["id"]}]}
        ).status_code
        == 403
    )
    r = client.post(
        f"/api/v1/cases/{parent['id']}/merge",
        headers=dispatcher,
        json={"children": [{"id": child["id"], "version": child["version"]}]},
    )
    assert r.status_code == 200 and r.json()["merged"] == [child["tracking_no"]]
    child_now = client.get(f"/api/v1/cases/{child['id']}", headers=dispatcher).json()
    assert child_now["state"] == "merged" and child_now["parent_id"] == parent["id"]
    for action in ("register", "dispatch"):
        parent = act(client, dispatcher, parent, action).json()
    parent = act(client, street, parent, "accept").json()
    parent = act(client, street, parent, "feedback", note="已清运").json()
    parent = act(client, dispatcher, parent, "verify_pass").json()
    act(client, dispatcher, parent, "close", public_note="已清运完毕")
    timeline = client.get(f"/api/v1/cases/{child['id']}/timeline", headers=token_for("citizen")).json()
    assert timeline[-1]["action"] == "parent_closed" and timeline[-1]["public_note"] == "已清运完毕"
    told = db.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.case_id == child["id"], Notification.audience == "reporter")
    )
    assert told == 1


def test_merge_into_a_closed_case_or_itself_is_refused(client, token_for, db) -> None:
    dispatcher = token_for("dispatcher")
    a = report(client, dispatcher, db, source="hotline_12345").json()
    self_merge = client.post(
        f"/api/v1/cases/{a['id']}/merge", headers=dispatcher, json={"children": [{"id": a["id"]}]}
    )
    assert self_merge.status_code == 422
    via_actions = act(client, dispatcher, a, "merge")
    assert via_actions.status_code == 409


def test_me_too_counts_once_and_not_on_your_own_case(client, token_for, db) -> None:
    case = report(client, token_for("inspector"), db).json()
    citizen = token_for("citizen")
    r = client.post(f"/api/v1/cases/{case['id']}/me-too", headers=citizen)
    assert r.status_code == 201 and r.json()["supporters_count"] == 1
    assert client.post(f"/api/v1/cases/{case['id']}/me-too", headers=citizen).status_code == 409
    mine = report(client, citizen, db, category="BJ0118").json()
    assert client.post(f"/api/v1/cases/{mine['id']}/me-too", headers=citizen).status_code == 409
    # The supporter did not make the dispatcher's copy stale.
    assert act(client, token_for("dispatcher"), case, "register").status_code == 200


def test_public_tracking_shows_progress_but_no_personal_data(client, token_for, db) -> None:
    dispatcher = token_for("dispatcher")
    case = report(client, token_for("citizen"), db, description="我家楼下 13900001111 王女士").json()
    case = act(client, dispatcher, case, "register").json()
    act(client, dispatcher, case, "note", note="内部：联系人情绪激动")
    r = client.get(f"/api/v1/public/cases/{case['tracking_no']}")
    assert r.status_code == 200
    text = r.text
    assert "13900001111" not in text and "王女士" not in text and "情绪激动" not in text
    assert "市民(示例)" not in text and "reporter" not in text
    body = r.json()
    assert [e["action"] for e in body["timeline"]] == ["report", "register"]
    assert body["street"] == "杨家坪街道" and body["status"] == "open"
    assert client.get("/api/v1/public/cases/JLP-1999-000001").status_code == 404
