"""Intake: every channel lands in one queue, routed and timed, duplicates offered; bad input saves nothing."""

import re

import pytest
from sqlalchemy import func, select

from cityloop.cases.models import Case, CaseStep, IdempotencyKey
from tests.cases.helpers import HJP, OUTSIDE, YJP, counts, point_in, report


def test_a_citizen_report_gets_a_tracking_number_a_route_and_a_deadline(client, token_for, db) -> None:
    r = report(client, token_for("citizen"), db, description="小区门口垃圾三天没人清")
    assert r.status_code == 201, r.text
    body = r.json()
    assert re.fullmatch(r"JLP-20\d\d-\d{6}", body["tracking_no"])
    assert body["state"] == "reported" and body["status"] == "open" and body["source"] == "app"
    # 暴露垃圾 is handled by the street/town where it lies.
    assert body["street"]["code"] == YJP and body["grid"]["code"] == f"{YJP}-C1-G1"
    assert body["unit"]["code"] == YJP and body["routing_reason"] == "default:street"
    assert body["reporter"]["user_id"] is not None and body["duplicates"] == []
    assert len(body["h3_cell"]) == 15 and body["due_at"].endswith("+08:00")
    case = db.get(Case, body["id"])
    step = db.execute(select(CaseStep).where(CaseStep.case_id == case.id)).scalar_one()
    assert step.step == "register" and step.done_at is None and step.due_at == case.register_due_at


def test_tracking_numbers_count_up_within_the_year(client, token_for, db) -> None:
    h = token_for("inspector")
    first = report(client, h, db).json()["tracking_no"]
    second = report(client, h, db, category="BJ0118", description="路灯不亮").json()["tracking_no"]
    assert int(second[-6:]) == int(first[-6:]) + 1 and second[:9] == first[:9]


@pytest.mark.parametrize(
    "category, grid, unit, reason",
    [
        ("SJ0505", f"{YJP}-C1-G1", f"enf-{YJP}", "default:enforcement"),  # 机动车乱停放 → the squadron there
        ("SJ0505", f"{HJP}-C1-G1", f"enf-{HJP}", "default:enforcement"),
        ("BJ0118", f"{HJP}-C2-G1", "dept-cgj", "default:department"),  # 路灯 → 城管局
        ("SJ0402", f"{YJP}-C2-G2", "util-water", "default:department"),  # 自来水管破裂 → water operator
        ("BJ0210", f"{YJP}-C1-G2", "dept-jtj", "rule:"),  # a demo rule beats the default (公安)
        ("BJ0210", f"{HJP}-C1-G2", "dept-gafj", "default:department"),  # … only inside 杨家坪
        ("SJ0513", f"{HJP}-C2-G2", HJP, "rule:"),
    ],
)
def test_routing_by_category_and_place(client, token_for, db, category, grid, unit, reason) -> None:
    body = report(client, token_for("dispatcher"), db, category=category, grid=grid).json()
    assert body["unit"]["code"] == unit and body["routing_reason"].startswith(reason)


def test_no_rule_and_no_default_goes_to_the_manual_queue_not_nowhere(client, token_for, db) -> None:
    h = token_for("dispatcher")
    body = report(client, h, db, category="SJ0513", grid=f"{YJP}-C1-G1").json()
    assert body["unit"] is None and body["routing_reason"] == "manual" and body["state"] == "reported"
    queue = client.get("/api/v1/cases", headers=h, params={"state": "reported", "q": body["tracking_no"]})
    assert [c["id"] for c in queue.json()["items"]] == [body["id"]]


def test_an_address_without_a_point_is_accepted_for_manual_handling(client, token_for, db) -> None:
    r = client.post(
        "/api/v1/cases",
        headers=token_for("dispatcher"),
        json={
            "category": "SJ0102",
            "address": "杨家坪步行街东口",
            "source": "hotline_12345",
            "reporter_name": "王先生",
            "reporter_phone": "13800000000",
            "source_ref": "12345-0001",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["lon"] is None and body["street"] is None and body["unit"] is None
    assert body["reporter"]["phone"] == "13800000000" and body["source_ref"] == "12345-0001"


def test_gcj02_coordinates_from_a_phone_are_stored_as_wgs84(client, token_for, db) -> None:
    from cityloop.core.geo import wgs84_to_gcj02

    lon, lat = point_in(db, f"{YJP}-C1-G1")
    glon, glat = wgs84_to_gcj02(lon, lat)
    body = client.post(
        "/api/v1/cases",
        headers=token_for("citizen"),
        json={"category": "SJ0102", "lon": glon, "lat": glat, "datum": "gcj02"},
    ).json()
    assert abs(body["lon"] - lon) < 1e-6 and abs(body["lat"] - lat) < 1e-6


def test_html_in_the_text_is_stored_as_text(client, token_for, db) -> None:
    evil = '<script>alert("x")</script><b>垃圾</b>'
    body = report(client, token_for("citizen"), db, description=evil).json()
    assert body["description"] == evil
    again = client.get(f"/api/v1/cases/{body['id']}", headers=token_for("citizen")).json()
    assert again["description"] == evil


@pytest.mark.parametrize(
    "change, status, code",
    [
        ({"lon": OUTSIDE[0], "lat": OUTSIDE[1]}, 422, "outside_district"),
        ({"lon": "east", "lat": 29.5}, 422, "validation_error"),
        ({"lon": float("nan")}, 422, "validation_error"),
        ({"lon": 500, "lat": 29.5}, 422, "validation_error"),
        ({"lat": None}, 422, "validation_error"),
        ({"category": "SJ9999"}, 422, "validation_error"),
        ({"description": "很" * 4001}, 422, "validation_error"),
        ({"urgency": "panic"}, 422, "validation_error"),
        ({"colour": "red"}, 422, "validation_error"),
        ({"source": "hotline_12345"}, 403, "forbidden"),  # a citizen cannot pose as the hotline
    ],
)
def test_bad_reports_get_a_clear_4xx_and_save_nothing(client, token_for, db, change, status, code) -> None:
    h = token_for("citizen")
    lon, lat = point_in(db, f"{YJP}-C1-G1")
    payload = {"category": "SJ0102", "description": "x", "lon": lon, "lat": lat, **change}
    before = counts(db)
    if payload.get("lon") != payload.get("lon"):  # NaN cannot travel in JSON: send it raw
        r = client.post(
            "/api/v1/cases",
            headers={**h, "content-type": "application/json"},
            content=b'{"category": "SJ0102", "lon": NaN, "lat": 29.5}',
        )
    else:
        r = client.post("/api/v1/cases", headers=h, json=payload)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    assert counts(db) == before


def test_no_token_no_report(client, db) -> None:
    before = counts(db)
    assert client.post("/api/v1/cases", json={"category": "SJ0102", "address": "x"}).status_code == 401
    assert counts(db) == before


def test_a_retry_with_the_same_idempotency_key_returns_the_same_case(client, token_for, db) -> None:
    h = {**token_for("citizen"), "Idempotency-Key": "phone-42-report-1"}
    first = report(client, h, db, description="同一次上报")
    before = counts(db)
    again = report(client, h, db, description="同一次上报")
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and counts(db) == before
    different = report(client, h, db, description="另一件事")
    assert different.status_code == 409 and different.json()["error"]["code"] == "idempotency_key_reused"
    # Keys belong to their account: another citizen's identical key is another report.
    assert db.scalar(select(func.count()).select_from(IdempotencyKey)) == 1


def test_a_nearby_open_report_of_the_same_category_is_offered_as_a_duplicate(client, token_for, db) -> None:
    h = token_for("inspector")
    first = report(client, h, db, description="第一次").json()
    second = report(client, h, db, description="又一次", shift=0.0002).json()  # ~20 m east
    assert second["possible_duplicate"] is True
    assert [d["tracking_no"] for d in second["duplicates"]] == [first["tracking_no"]]
    assert 10 < second["duplicates"][0]["distance_m"] < 40
    other_kind = report(client, h, db, category="SJ0104", description="道路不洁").json()
    assert first["tracking_no"] not in [d["tracking_no"] for d in other_kind["duplicates"]]
    dispatcher = token_for("dispatcher")
    offered = client.get(f"/api/v1/cases/{first['id']}/duplicates", headers=dispatcher).json()
    assert second["id"] in [d["id"] for d in offered]


def test_citizens_see_no_other_peoples_duplicates(client, token_for, db) -> None:
    report(client, token_for("inspector"), db)
    mine = report(client, token_for("citizen"), db, shift=0.0001).json()
    assert mine["possible_duplicate"] is True and mine["duplicates"] == []
