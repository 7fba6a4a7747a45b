"""Open311 stays well-formed and public-safe whatever is stored or sent: a real XML parser reads every
list after garbage is planted straight into the database, dates at the years' edges answer 400, the
address is coarsened like the coordinates."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import func, select, update

from cityloop.cases.models import Case, CaseEvent
from tests.cases.test_open311 import V2, api_key, post  # noqa: F401 (fixture)

GARBAGE = "bad\x00nul \x01\x08\x0b\x0c\x1b[31m \x7f \u0085 \ufffe end"


def _plant(db: Any, **values: Any) -> Case:
    """Write ``values`` into the newest case directly, as an old import or a broken client might have."""
    case = db.execute(select(Case).order_by(Case.reported_at.desc(), Case.id.desc()).limit(1)).scalar_one()
    db.execute(update(Case).where(Case.id == case.id).values(**values))
    db.commit()
    db.refresh(case)
    return case


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_the_lists_stay_parseable_after_control_characters_were_stored(
    client: Any, db: Any, fmt: str
) -> None:
    from tests.conftest import IS_PG

    # PostgreSQL refuses NUL in text itself: plant what it stores (neither database takes a lone surrogate).
    text = GARBAGE.replace("\x00", "") if IS_PG else GARBAGE
    case = _plant(db, description=text, address=f"杨家坪正街{text}12号3栋")
    db.add(CaseEvent(case_id=case.id, at=case.reported_at, action="note", actor_name="t", public_note=text))
    db.commit()
    for path in (f"/requests.{fmt}", f"/requests/{case.tracking_no}.{fmt}"):
        r = client.get(V2 + path)
        assert r.status_code == 200, r.text
        if fmt == "xml":
            root = ET.fromstring(r.content)  # raises on an unparseable document
            found = [e for e in root.iter("request") if e.findtext("service_request_id") == case.tracking_no]
            description = found[0].findtext("description") or ""
        else:
            found = [q for q in json.loads(r.content) if q["service_request_id"] == case.tracking_no]
            description = found[0]["description"]
        assert description.startswith("badnul") and description.endswith("end")
        assert all(ch not in description for ch in "\x00\x01\x08\x0b\x0c\x1b\x7f\ufffe")


def test_addresses_are_coarsened_like_the_coordinates(client: Any, db: Any, api_key: str) -> None:  # noqa: F811
    r = post(client, db, api_key, address_string="九龙坡区杨家坪正街12号3栋2单元501室")
    assert r.status_code == 200, r.text
    tracking = r.json()[0]["service_request_id"]
    stored = db.execute(select(Case.address).where(Case.tracking_no == tracking)).scalar_one()
    assert stored == "九龙坡区杨家坪正街12号3栋2单元501室"  # the case keeps what was sent
    shown = client.get(f"{V2}/requests/{tracking}.json").json()[0]
    assert shown["address"] == "九龙坡区杨家坪正街"
    assert shown["lat"] == round(shown["lat"], 3)
    root = ET.fromstring(client.get(f"{V2}/requests/{tracking}.xml").content)
    assert root.findtext("request/address") == "九龙坡区杨家坪正街"


@pytest.mark.parametrize(
    "query",
    [
        {"start_date": "0001-01-01T00:00:00+08:00"},
        {"end_date": "0001-01-01T00:00:00+14:00"},
        {"start_date": "9999-12-31T23:59:59-12:00"},
        {"end_date": "9999-12-31T23:59:59+00:00"},
        {"start_date": "9999-12-31T00:00:00Z", "end_date": "9999-12-31T23:59:59Z"},
        {"start_date": "2026-01-01T00:00:00"},
    ],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_dates_at_the_years_edges_are_a_400_not_a_crash(client: Any, query: dict[str, str], fmt: str) -> None:
    r = client.get(f"{V2}/requests.{fmt}", params=query)
    assert r.status_code == 400, r.text
    if fmt == "json":
        assert r.json()[0]["code"] == 400
    else:
        assert ET.fromstring(r.content).findtext("error/code") == "400"


def test_control_characters_in_a_posted_report_are_refused_and_nothing_is_saved(
    client: Any,
    db: Any,
    api_key: str,  # noqa: F811
) -> None:
    before = db.execute(select(func.count(Case.id))).scalar_one()
    for fmt in ("json", "xml"):
        r = post(client, db, api_key, fmt=fmt, description="路边\x00堆放\x1b垃圾")
        assert r.status_code == 400, r.text
        if fmt == "xml":
            assert ET.fromstring(r.content).findtext("error/code") == "400"
        else:
            assert r.json()[0]["code"] == 400 and "control" in r.json()[0]["description"]
    r = client.get(f"{V2}/requests.json", params={"service_request_id": "JLP\x00"})
    assert r.status_code == 400 and r.json()[0]["code"] == 400
    assert db.execute(select(func.count(Case.id))).scalar_one() == before
