"""Open311 GeoReport v2: every endpoint in JSON and XML, the spec's errors, and a report's round trip."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cityloop.cases import categories
from cityloop.cases.models import Case, Open311Key
from cityloop.cases.open311_io import create_key
from cityloop.cli import app as cli_app
from cityloop.core.audit import Actor
from cityloop.core.clock import isoformat, now
from cityloop.core.security import token_digest
from tests.cases.helpers import HJP, YJP, act, point_in

V2 = "/open311/v2"
XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
PERSONAL = {"email": "li.lei@example.com", "first_name": "雷", "last_name": "李", "phone": "13800138000"}


@pytest.fixture
def api_key(db: Any) -> str:
    key = create_key(db, actor=Actor("test"), name="test-app")
    db.commit()
    return key


def xml(r: Any) -> ET.Element:
    assert r.headers["content-type"] == XML_TYPE
    assert r.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(r.content)
    assert "}" not in root.tag  # no namespace
    return root


def post(
    client: Any,
    db: Any,
    key: str | None,
    fmt: str = "json",
    grid: str = f"{YJP}-C1-G1",
    headers: dict[str, str] | None = None,
    **form: str,
) -> Any:
    """POST requests.{fmt} form-encoded, a garbage report in the grid unless ``form`` says otherwise."""
    lon, lat = point_in(db, grid)
    data = {"service_code": "SJ0102", "lat": str(lat), "long": str(lon), "description": "路边堆放生活垃圾"}
    if key is not None:
        data["api_key"] = key
    data.update(form)
    return client.post(f"{V2}/requests.{fmt}", data=data, headers=headers or {})


def case_count(db: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(Case)))


def assert_error(r: Any, status: int, fmt: str = "json") -> str:
    assert r.status_code == status, r.text
    if fmt == "json":
        assert r.headers["content-type"] == JSON_TYPE
        body = r.json()
        assert isinstance(body, list) and body[0]["code"] == status
        return str(body[0]["description"])
    root = xml(r)
    assert root.tag == "errors" and root.find("error/code").text == str(status)  # type: ignore[union-attr]
    return str(root.find("error/description").text)  # type: ignore[union-attr]


# --- discovery and services ---------------------------------------------------------------------------


def test_discovery_in_both_formats(client) -> None:
    body = client.get(f"{V2}/discovery.json").json()
    endpoint = body["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2" and "text/xml" in endpoint["formats"]
    assert body["changeset"].endswith("+08:00") and body["key_service"]
    root = xml(client.get(f"{V2}/discovery.xml"))
    assert root.tag == "discovery"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == [
        "text/xml",
        "application/json",
    ]


def test_services_are_the_active_category_leaves_grouped_by_major_category(client, db) -> None:
    leaves = categories.list_categories(db)
    r = client.get(f"{V2}/services.json")
    assert r.headers["content-type"] == JSON_TYPE
    services = {s["service_code"]: s for s in r.json()}
    assert set(services) == {c.code for c in leaves}
    garbage = services["SJ0102"]
    assert garbage["service_name"] == "暴露垃圾" and garbage["group"] == "市容环境"
    assert garbage["metadata"] is True and garbage["type"] == "realtime" and "暴露垃圾" in garbage["keywords"]
    root = xml(client.get(f"{V2}/services.xml"))
    assert root.tag == "services" and len(root.findall("service")) == len(leaves)
    first = root.find("service")
    assert first is not None and first.findtext("metadata") == "true" and first.findtext("group")


def test_a_service_definition_offers_urgency_as_a_single_value_list(client) -> None:
    body = client.get(f"{V2}/services/SJ0102.json").json()
    assert body["service_code"] == "SJ0102"
    (urgency,) = body["attributes"]
    assert urgency["code"] == "urgency" and urgency["datatype"] == "singlevaluelist"
    assert urgency["variable"] is True and urgency["required"] is False and urgency["order"] == 1
    assert [v["key"] for v in urgency["values"]] == ["normal", "urgent", "emergency"]
    root = xml(client.get(f"{V2}/services/SJ0102.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == "SJ0102"
    assert [v.text for v in root.findall("attributes/attribute/values/value/key")] == [
        "normal",
        "urgent",
        "emergency",
    ]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_not_found_answers_404_in_the_asked_format(client, fmt) -> None:
    for path in (f"services/NOPE.{fmt}", f"requests/JLP-1999-000001.{fmt}", f"tokens/nope.{fmt}"):
        assert_error(client.get(f"{V2}/{path}"), 404, fmt)
    assert_error(client.get(f"{V2}/services.{fmt}", params={"jurisdiction_id": "110101"}), 404, fmt)
    assert client.get(f"{V2}/services.{fmt}", params={"jurisdiction_id": "500107"}).status_code == 200


def test_an_unknown_format_is_a_400(client) -> None:
    assert_error(client.get(f"{V2}/services.csv"), 400, "xml")


# --- creating requests --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_posted_request_becomes_a_routed_case_visible_without_personal_data(
    client, db, api_key, fmt
) -> None:
    r = post(
        client,
        db,
        api_key,
        fmt,
        **{"attribute[urgency]": "urgent", "media_url": "https://img.example/1.jpg"},
        **PERSONAL,
    )
    assert r.status_code == 200, r.text
    if fmt == "json":
        (created,) = r.json()
        sr_id = created["service_request_id"]
        assert "token" not in created and sr_id in created["service_notice"]
    else:
        root = xml(r)
        assert root.tag == "service_requests" and root.find("request/token") is None
        sr_id = str(root.findtext("request/service_request_id"))
    case = db.execute(select(Case).where(Case.tracking_no == sr_id)).scalar_one()
    assert case.source == "app" and case.urgency == "urgent" and case.state == "reported"
    assert case.reporter_name == "雷 李" and case.reporter_phone == "13800138000"
    assert case.routing_reason == "default:street" and case.unit_id is not None
    assert case.attributes["open311"]["email"] == PERSONAL["email"]

    shown = client.get(f"{V2}/requests/{sr_id}.{fmt}")
    assert shown.status_code == 200
    for secret in (*PERSONAL.values(), "李"):
        assert secret not in shown.text
    if fmt == "json":
        (req,) = shown.json()
        assert (
            req["status"] == "open" and req["service_code"] == "SJ0102" and req["service_name"] == "暴露垃圾"
        )
        assert req["agency_responsible"] == "杨家坪街道" and req["media_url"] == "https://img.example/1.jpg"
        assert req["requested_datetime"].endswith("+08:00") and req["expected_datetime"] is None
        assert abs(req["lat"] - case.lat) < 0.001 and abs(req["long"] - case.lon) < 0.001
    else:
        req_el = xml(shown).find("request")
        assert req_el is not None and req_el.findtext("status") == "open"
        assert req_el.findtext("agency_responsible") == "杨家坪街道"


def test_an_address_alone_is_a_location_and_empty_fields_count_as_absent(client, db, api_key) -> None:
    r = post(client, db, api_key, lat="", long="", address_string="杨家坪步行街 12 号", email="", phone="")
    assert r.status_code == 200, r.text
    case = db.execute(select(Case).where(Case.tracking_no == r.json()[0]["service_request_id"])).scalar_one()
    assert case.lon is None and case.address == "杨家坪步行街 12 号" and case.reporter_phone is None
    assert "email" not in case.attributes["open311"]


def test_api_key_is_required_and_checked(client, db, api_key) -> None:
    before = case_count(db)
    assert_error(post(client, db, None), 403)
    assert_error(post(client, db, "o311_wrong"), 403, "json")
    assert_error(post(client, db, "", "xml"), 403, "xml")
    row = db.execute(select(Open311Key).where(Open311Key.key_hash == token_digest(api_key))).scalar_one()
    row.active = False
    db.commit()
    assert_error(post(client, db, api_key), 403)
    assert case_count(db) == before


@pytest.mark.parametrize(
    "form, status",
    [
        ({"service_code": ""}, 400),
        ({"service_code": "NOPE"}, 404),
        ({"lat": "", "long": ""}, 400),
        ({"long": ""}, 400),
        ({"lat": "abc"}, 400),
        ({"lat": "", "long": "", "address_id": "A-17"}, 400),
        ({"description": "长" * 4001}, 400),
        ({"attribute[urgency]": "whenever"}, 400),
        ({"attribute[colour]": "red"}, 400),
        ({"jurisdiction_id": "110101"}, 404),
    ],
)
def test_bad_posts_answer_per_spec_and_save_nothing(client, db, api_key, form, status) -> None:
    before = case_count(db)
    assert_error(post(client, db, api_key, **form), status)
    assert case_count(db) == before


def test_a_point_outside_the_district_is_a_400(client, db, api_key) -> None:
    assert_error(post(client, db, api_key, lat="29.90", long="106.10"), 400)


def test_a_retry_with_the_same_idempotency_key_is_one_case_and_the_key_is_a_token(
    client, db, api_key
) -> None:
    headers = {"Idempotency-Key": "app-report-42"}
    first = post(client, db, api_key, headers=headers).json()[0]["service_request_id"]
    before = case_count(db)
    again = post(client, db, api_key, headers=headers).json()[0]["service_request_id"]
    assert again == first and case_count(db) == before
    assert client.get(f"{V2}/tokens/app-report-42.json").json() == [
        {"service_request_id": first, "token": "app-report-42"}
    ]
    assert xml(client.get(f"{V2}/tokens/app-report-42.xml")).findtext("request/service_request_id") == first


def test_a_second_report_at_the_same_place_is_flagged_as_a_possible_duplicate(client, db, api_key) -> None:
    first = post(client, db, api_key).json()[0]["service_request_id"]
    second = post(client, db, api_key).json()[0]
    assert first in second["service_notice"]
    assert db.execute(
        select(Case.possible_duplicate).where(Case.tracking_no == second["service_request_id"])
    ).scalar_one()


# --- listing requests ---------------------------------------------------------------------------------


def _ids(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [x["service_request_id"] for x in r.json()]


def test_listing_filters_by_code_status_and_ids(client, db, api_key) -> None:
    garbage = post(client, db, api_key).json()[0]["service_request_id"]
    lamp = post(client, db, api_key, service_code="BJ0118", grid=f"{HJP}-C2-G1").json()[0][
        "service_request_id"
    ]
    everything = _ids(client.get(f"{V2}/requests.json"))
    assert {garbage, lamp} <= set(everything)
    by_code = _ids(client.get(f"{V2}/requests.json", params={"service_code": "BJ0118,SJ9999"}))
    assert lamp in by_code and garbage not in by_code
    assert {garbage, lamp} <= set(_ids(client.get(f"{V2}/requests.json", params={"status": "open"})))
    assert not {garbage, lamp} & set(_ids(client.get(f"{V2}/requests.json", params={"status": "closed"})))
    # service_request_id overrides every other filter.
    ids = {"service_request_id": f"{garbage},{lamp}", "status": "closed", "service_code": "NOPE"}
    assert set(_ids(client.get(f"{V2}/requests.json", params=ids))) == {garbage, lamp}
    root = xml(client.get(f"{V2}/requests.xml", params={"service_request_id": lamp}))
    assert [e.text for e in root.findall("request/service_request_id")] == [lamp]


def test_empty_parameters_are_treated_as_absent(client, db, api_key) -> None:
    post(client, db, api_key)
    plain = client.get(f"{V2}/requests.json").json()
    empty = {"service_request_id": "", "service_code": "", "start_date": "", "end_date": "", "status": ""}
    assert client.get(f"{V2}/requests.json", params=empty | {"jurisdiction_id": ""}).json() == plain


def test_the_date_window_is_at_most_90_days(client, db, api_key) -> None:
    sr_id = post(client, db, api_key).json()[0]["service_request_id"]
    end = now() + timedelta(hours=1)

    def span(days: float) -> Any:
        return client.get(
            f"{V2}/requests.json",
            params={"start_date": isoformat(end - timedelta(days=days)), "end_date": isoformat(end)},
        )

    assert sr_id in _ids(span(90))
    assert "90 days" in assert_error(span(91), 400)
    assert_error(client.get(f"{V2}/requests.xml", params={"start_date": "2026-01-01T00:00:00"}), 400, "xml")
    assert_error(client.get(f"{V2}/requests.json", params={"end_date": "yesterday"}), 400)
    assert_error(client.get(f"{V2}/requests.json", params={"status": "pending"}), 400)
    # A window in the past that does not hold the new case.
    past = {"end_date": isoformat(now() - timedelta(days=30))}
    assert sr_id not in _ids(client.get(f"{V2}/requests.json", params=past))


# --- api keys -----------------------------------------------------------------------------------------


def test_the_cli_prints_a_key_that_works_and_stores_only_its_hash(client, db) -> None:
    r = CliRunner().invoke(cli_app, ["open311", "keys", "create", "--name", "wechat-mini"])
    assert r.exit_code == 0, r.output
    key = r.output.strip().splitlines()[-1]
    row = db.execute(select(Open311Key).where(Open311Key.name == "wechat-mini")).scalar_one()
    assert row.key_hash == token_digest(key) and key not in row.key_hash
    assert post(client, db, key).status_code == 200
    again = CliRunner().invoke(cli_app, ["open311", "keys", "create", "--name", "wechat-mini"])
    assert again.exit_code == 2 and len(again.output.strip().splitlines()) == 1


def test_the_loop_shows_through_open311_until_closed_with_the_public_note(
    client, db, api_key, token_for
) -> None:
    sr_id = post(client, db, api_key).json()[0]["service_request_id"]
    dispatcher, street = token_for("dispatcher"), token_for("street")
    case_id = db.execute(select(Case.id).where(Case.tracking_no == sr_id)).scalar_one()
    case = client.get(f"/api/v1/cases/{case_id}", headers=dispatcher).json()
    case = act(client, dispatcher, case, "register").json()
    case = act(client, dispatcher, case, "dispatch").json()
    (req,) = client.get(f"{V2}/requests/{sr_id}.json").json()
    assert req["status"] == "open" and req["expected_datetime"] == case["handle_due_at"]
    case = act(client, street, case, "accept").json()
    case = act(client, street, case, "feedback", note="已清运", public_note="垃圾已清运").json()
    assert client.get(f"{V2}/requests/{sr_id}.json").json()[0]["status_notes"] == "垃圾已清运"
    case = act(client, token_for("inspector"), case, "verify_pass").json()
    case = act(client, dispatcher, case, "close", public_note="已办结").json()
    assert case["state"] == "closed"
    (req,) = client.get(f"{V2}/requests/{sr_id}.json").json()
    assert req["status"] == "closed" and req["status_notes"] == "已办结" and req["expected_datetime"] is None
    assert sr_id in _ids(client.get(f"{V2}/requests.json", params={"status": "closed"}))
    assert sr_id not in _ids(client.get(f"{V2}/requests.json", params={"status": "open"}))
