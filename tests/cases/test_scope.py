"""Scope, endpoint by endpoint: out of scope reads are 404, writes 403/404, and nothing changes."""

import pytest
from sqlalchemy import func, select

from cityloop.cases.models import Attachment, Case, RoutingRule, Supporter
from cityloop.core.audit import Actor
from cityloop.org import service as org
from tests.cases.helpers import HJP, YJP, act, counts, report

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def cases(client, token_for, db):
    """One case in 杨家坪 for the street, one for 城管局 (also located in 杨家坪), one in 黄桷坪."""
    dispatcher = token_for("dispatcher")
    out = {
        "yjp": report(client, token_for("citizen"), db).json(),
        "dept": report(client, dispatcher, db, category="BJ0118", grid=f"{YJP}-C2-G1").json(),
        "hjp": report(client, dispatcher, db, grid=f"{HJP}-C1-G1").json(),
    }
    for key in out:
        c = act(client, dispatcher, out[key], "register").json()
        out[key] = act(client, dispatcher, c, "dispatch").json()
    return out


def _ids(client, headers, **params):
    r = client.get(
        "/api/v1/cases", headers=headers, params={"page_size": 200, "state": "dispatched", **params}
    )
    assert r.status_code == 200, r.text
    return {c["id"] for c in r.json()["items"]}


def test_queue_lists_only_what_each_account_may_read(client, token_for, cases) -> None:
    yjp, dept, hjp = cases["yjp"]["id"], cases["dept"]["id"], cases["hjp"]["id"]
    assert {yjp, dept, hjp} <= _ids(client, token_for("dispatcher"))
    street = _ids(client, token_for("street"))
    assert {yjp, dept} <= street and hjp not in street  # dept: it lies in 杨家坪 (属地 staff see it)
    street2 = _ids(client, token_for("street2"))
    assert hjp in street2 and not {yjp, dept} & street2
    department = _ids(client, token_for("department"))
    assert dept in department and not {yjp, hjp} & department
    assert _ids(client, token_for("citizen")) == {yjp}
    enforcement = _ids(client, token_for("enforcement"))
    assert not {yjp, dept, hjp} & enforcement


def test_one_case_timeline_and_files_are_404_outside_scope(client, token_for, cases) -> None:
    hjp = cases["hjp"]["id"]
    for user in ("street", "citizen", "department", "inspector"):
        h = token_for(user)
        assert client.get(f"/api/v1/cases/{hjp}", headers=h).status_code == 404, user
        assert client.get(f"/api/v1/cases/{hjp}/timeline", headers=h).status_code == 404, user
        assert client.get(f"/api/v1/cases/{hjp}/attachments/1", headers=h).status_code == 404, user
    assert client.get(f"/api/v1/cases/{hjp}", headers=token_for("street2")).status_code == 200


def test_actions_outside_scope_change_nothing(client, token_for, cases, db) -> None:
    before = counts(db)
    hjp, dept = cases["hjp"], cases["dept"]
    r = act(client, token_for("street"), hjp, "accept")
    assert r.status_code == 404  # not even visible
    r = act(client, token_for("street"), dept, "accept")  # visible (in its area) but not its case
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert act(client, token_for("enforcement"), dept, "accept").status_code == 404
    assert counts(db) == before
    assert db.get(Case, dept["id"]).state == "dispatched"


def test_a_street_may_leave_a_note_on_a_case_in_its_area(client, token_for, cases) -> None:
    r = act(client, token_for("street"), cases["dept"], "note", note="该路灯属小区物业")
    assert r.status_code == 200 and r.json()["state"] == "dispatched"


def test_uploads_outside_scope_are_refused_and_store_nothing(client, token_for, cases, db) -> None:
    files = {"file": ("p.png", PNG, "image/png")}
    r = client.post(
        f"/api/v1/cases/{cases['hjp']['id']}/attachments", headers=token_for("street"), files=files
    )
    assert r.status_code == 404
    assert db.scalar(select(func.count()).select_from(Attachment)) == 0


def _second_citizen(db):
    district = org.find_unit(db, ref="500107")
    org.create_user(
        db, actor=Actor("test"), username="citizen2", password="long-enough", role="citizen", unit=district
    )
    db.commit()


def test_a_citizen_reads_and_rates_only_their_own(client, token_for, cases, db) -> None:
    _second_citizen(db)
    other = token_for("citizen2")
    mine = cases["yjp"]["id"]
    assert client.get(f"/api/v1/cases/{mine}", headers=other).status_code == 404
    assert client.get("/api/v1/cases", headers=other).json()["items"] == []
    r = client.post(f"/api/v1/cases/{mine}/rating", headers=other, json={"score": "dissatisfied"})
    assert r.status_code == 404
    r = client.post(f"/api/v1/cases/{mine}/rating", headers=token_for("street"), json={"score": "satisfied"})
    assert r.status_code == 403
    assert act(client, other, cases["yjp"], "verify_pass").status_code == 404


def test_only_citizens_say_me_too_and_only_dispatchers_merge_or_see_duplicates(
    client, token_for, cases, db
) -> None:
    yjp, dept = cases["yjp"]["id"], cases["dept"]["id"]
    assert client.post(f"/api/v1/cases/{yjp}/me-too", headers=token_for("street")).status_code == 403
    assert db.scalar(select(func.count()).select_from(Supporter)) == 0
    for user in ("street", "department", "citizen", "inspector"):
        h = token_for(user)
        assert client.get(f"/api/v1/cases/{yjp}/duplicates", headers=h).status_code == 403, user
        r = client.post(f"/api/v1/cases/{yjp}/merge", headers=h, json={"children": [{"id": dept}]})
        assert r.status_code == 403, user
    assert db.get(Case, dept).parent_id is None


def test_routing_rules_are_read_by_the_command_centre_and_written_by_admins(client, token_for, db) -> None:
    body = {"category": "BJ0118", "area": HJP, "unit": HJP}
    for user in ("street", "citizen", "department"):
        assert client.get("/api/v1/routing-rules", headers=token_for(user)).status_code == 403, user
    n = db.scalar(select(func.count()).select_from(RoutingRule))
    assert client.post("/api/v1/routing-rules", headers=token_for("dispatcher"), json=body).status_code == 403
    rules = client.get("/api/v1/routing-rules", headers=token_for("dispatcher")).json()
    assert len(rules) == n and db.scalar(select(func.count()).select_from(RoutingRule)) == n
    rule = rules[0]
    r = client.patch(
        f"/api/v1/routing-rules/{rule['id']}",
        headers=token_for("dispatcher"),
        json={"version": rule["version"], "active": False},
    )
    assert r.status_code == 403 and db.get(RoutingRule, rule["id"]).active is True


def test_category_settings_are_public_to_read_and_admin_only_to_change(client, token_for, db) -> None:
    cats = client.get("/api/v1/categories").json()
    leaf = next(c for c in cats if c["code"] == "SJ0102")
    assert leaf["name"] == "暴露垃圾" and leaf["kind"] == "event" and leaf["handler"] == "street"
    patch = {"version": leaf["version"], "duplicate_radius_m": 120}
    assert (
        client.patch("/api/v1/categories/SJ0102", headers=token_for("dispatcher"), json=patch).status_code
        == 403
    )
    r = client.patch("/api/v1/categories/SJ0102", headers=token_for("admin"), json=patch)
    assert r.status_code == 200 and r.json()["duplicate_radius_m"] == 120
    stale = client.patch("/api/v1/categories/SJ0102", headers=token_for("admin"), json=patch)
    assert stale.status_code == 409


def test_queue_filters_combine(client, token_for, cases) -> None:
    h = token_for("dispatcher")
    yjp = cases["yjp"]
    found = client.get("/api/v1/cases", headers=h, params={"q": yjp["tracking_no"]}).json()
    assert [c["id"] for c in found["items"]] == [yjp["id"]] and found["total"] == 1 and found["total_exact"]
    words = client.get("/api/v1/cases", headers=h, params={"q": "路边堆放", "state": "dispatched"}).json()
    assert yjp["id"] in [c["id"] for c in words["items"]]
    lon, lat = yjp["lon"], yjp["lat"]
    box = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    inside = client.get("/api/v1/cases", headers=h, params={"bbox": box, "state": "dispatched"}).json()
    assert yjp["id"] in [c["id"] for c in inside["items"]] and cases["hjp"]["id"] not in [
        c["id"] for c in inside["items"]
    ]
    by_unit = client.get(
        "/api/v1/cases", headers=h, params={"unit": "dept-cgj", "state": "dispatched"}
    ).json()
    assert cases["dept"]["id"] in [c["id"] for c in by_unit["items"]] and yjp["id"] not in [
        c["id"] for c in by_unit["items"]
    ]
    by_street = client.get("/api/v1/cases", headers=h, params={"street": HJP, "category": "SJ0102"}).json()
    assert [c["id"] for c in by_street["items"]][:1] == [cases["hjp"]["id"]]
    assert client.get("/api/v1/cases", headers=h, params={"state": "nonsense"}).status_code == 422
    assert client.get("/api/v1/cases", headers=h, params={"bbox": "1,2,3"}).status_code == 422
    assert client.get("/api/v1/cases", headers=h, params={"sort": "colour"}).status_code == 422
    page2 = client.get("/api/v1/cases", headers=h, params={"page": 2, "page_size": 5}).json()
    page1 = client.get("/api/v1/cases", headers=h, params={"page": 1, "page_size": 5}).json()
    assert len(page2["items"]) == 5 and not {c["id"] for c in page1["items"]} & {
        c["id"] for c in page2["items"]
    }
    assert page1["total"] == 1000 and not page1["total_exact"]  # the demo month alone has more: "1000+"
