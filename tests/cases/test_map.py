"""The queue map's GeoJSON (/api/v1/cases/map): scope per role, the queue's filters, points or clusters,
and bad boxes refused with the error envelope."""

from __future__ import annotations

from typing import Any

import pytest

from cityloop.cases import map as case_map
from tests.cases.helpers import HJP, YJP, act, report

DISTRICT = "106.2,29.2,106.8,29.8"  # the demo district (九龙坡) with room around it


@pytest.fixture(autouse=True)
def _points_up_to(monkeypatch) -> None:
    """The test database holds the demo month (~1,200 cases): points for all of them unless a test asks."""
    monkeypatch.setattr(case_map, "POINT_LIMIT", 5000)


@pytest.fixture
def cases(client, token_for, db):
    """One case in 杨家坪 (a citizen's), one for 城管局 (also in 杨家坪), one in 黄桷坪; all dispatched."""
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


def _map(client: Any, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = client.get(
        "/api/v1/cases/map", headers=headers, params={"bbox": DISTRICT, "zoom": 11, "state": "all", **params}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "FeatureCollection"
    return body


def _ids(body: dict[str, Any]) -> set[int]:
    assert body["kind"] == "points"
    return {f["properties"]["id"] for f in body["features"]}


def _listed(client: Any, headers: dict[str, str], **params: Any) -> set[int]:
    """Every case the queue API lists for these filters (all pages)."""
    out: set[int] = set()
    for page in range(1, 100):
        r = client.get("/api/v1/cases", headers=headers, params={"page_size": 200, "page": page, **params})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        out |= {c["id"] for c in items}
        if len(items) < 200:
            return out
    raise AssertionError("too many pages")


def test_each_role_sees_on_the_map_what_its_queue_shows(client, token_for, cases) -> None:
    yjp, dept, hjp = (cases[k]["id"] for k in ("yjp", "dept", "hjp"))
    seen = {u: _ids(_map(client, token_for(u))) for u in ("dispatcher", "street", "street2", "department")}
    assert {yjp, dept, hjp} <= seen["dispatcher"]
    assert {yjp, dept} <= seen["street"] and hjp not in seen["street"]
    assert hjp in seen["street2"] and not {yjp, dept} & seen["street2"]
    assert dept in seen["department"] and not {yjp, hjp} & seen["department"]
    for user, ids in seen.items():  # the map and the list agree on every case in scope
        assert ids == _listed(client, token_for(user)), user
    feature = next(
        f for f in _map(client, token_for("dispatcher"))["features"] if f["properties"]["id"] == hjp
    )
    assert feature["properties"]["no"] == cases["hjp"]["tracking_no"]
    assert feature["geometry"]["coordinates"] == [cases["hjp"]["lon"], cases["hjp"]["lat"]]


def test_a_citizen_is_refused(client, token_for, cases) -> None:
    r = client.get("/api/v1/cases/map", headers=token_for("citizen"), params={"bbox": DISTRICT, "zoom": 11})
    assert r.status_code == 403
    assert set(r.json()["error"]) >= {"code", "message", "details"}
    assert client.get("/api/v1/cases/map", params={"bbox": DISTRICT, "zoom": 11}).status_code == 401


def test_the_queue_filters_apply(client, token_for, cases) -> None:
    h = token_for("dispatcher")
    yjp, dept, hjp = (cases[k]["id"] for k in ("yjp", "dept", "hjp"))
    assert dept in _ids(_map(client, h, category="BJ0118"))
    assert not {yjp, hjp} & _ids(_map(client, h, category="BJ0118"))
    by_street = _ids(_map(client, h, street=HJP))
    assert hjp in by_street and not {yjp, dept} & by_street
    assert not {yjp, dept, hjp} & _ids(_map(client, h, state="closed"))
    assert {yjp, dept, hjp} <= _ids(_map(client, h, state="dispatched"))
    assert _ids(_map(client, h, q=cases["yjp"]["tracking_no"])) == {yjp}
    for params in (
        {"category": "BJ0118"},
        {"street": HJP},
        {"state": "open"},
        {"source": "app"},
        {"overdue": "true"},
    ):
        assert _ids(_map(client, h, **params)) == _listed(client, h, **params), params
    # A box around 黄桷坪's case only, at street zoom.
    lon, lat = cases["hjp"]["lon"], cases["hjp"]["lat"]
    box = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    assert hjp in _ids(_map(client, h, bbox=box, zoom=17))
    assert not {yjp, dept} & _ids(_map(client, h, bbox=box, zoom=17))


def test_many_cases_come_as_clusters_that_count_them_all(client, token_for, cases, monkeypatch) -> None:
    h = token_for("dispatcher")
    points = _map(client, h)
    monkeypatch.setattr(case_map, "POINT_LIMIT", 1)
    body = _map(client, h)
    assert body["kind"] == "clusters"
    assert body["total"] == points["total"] == len(points["features"])
    assert sum(f["properties"]["count"] for f in body["features"]) == body["total"]
    for f in body["features"]:
        w, s, e, n = f["properties"]["bounds"]
        lon, lat = f["geometry"]["coordinates"]
        assert w < lon < e and s < lat < n
        inside = [p for p in points["features"] if w <= p["geometry"]["coordinates"][0] < e
                  and s < p["geometry"]["coordinates"][1] <= n]  # fmt: skip
        assert len(inside) == f["properties"]["count"]
    street2 = _map(client, token_for("street2"))
    assert sum(f["properties"]["count"] for f in street2["features"]) == street2["total"]
    assert street2["total"] < body["total"]  # the clusters are scoped too


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"bbox": ""}, "bbox_invalid"),
        ({"bbox": "106.2,29.2,106.8"}, "bbox_invalid"),
        ({"bbox": "a,b,c,d"}, "bbox_invalid"),
        ({"bbox": "106.8,29.2,106.2,29.8"}, "bbox_invalid"),  # west > east
        ({"bbox": "106.2,29.8,106.8,29.2"}, "bbox_invalid"),  # south > north
        ({"bbox": "106.2,29.2,196.8,29.8"}, "bbox_invalid"),
        ({"bbox": "nan,29.2,106.8,29.8"}, "bbox_invalid"),
        ({"bbox": "-180,-85,180,85", "zoom": 18}, "bbox_too_large"),
        ({"zoom": 40}, "zoom_invalid"),
        ({"zoom": -1}, "zoom_invalid"),
        ({"state": "nonsense"}, None),
    ],
)
def test_bad_boxes_are_a_clear_4xx(client, token_for, params, code) -> None:
    r = client.get("/api/v1/cases/map", headers=token_for("dispatcher"), params={"bbox": DISTRICT, **params})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert set(error) >= {"code", "message", "details"} and error["message"]
    if code:
        assert error["code"] == code


def test_points_are_coloured_like_the_queue_green_amber_red(client, token_for, cases, db) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from cityloop.cases.models import Case, CaseStep
    from cityloop.core.clock import now

    at = now()
    fresh, reminded, late = (cases[k]["id"] for k in ("yjp", "dept", "hjp"))
    for case_id, remind, due in (
        (fresh, at + timedelta(hours=1), at + timedelta(hours=2)),
        (reminded, at - timedelta(minutes=5), at + timedelta(hours=1)),
        (late, at - timedelta(hours=2), at - timedelta(hours=1)),
    ):
        db.execute(
            update(CaseStep)
            .where(CaseStep.case_id == case_id, CaseStep.done_at.is_(None))
            .values(remind_at=remind, due_at=due)
        )
        db.execute(update(Case).where(Case.id == case_id).values(due_at=due))
    db.flush()
    body = _map(client, token_for("dispatcher"))
    colour = {f["properties"]["id"]: f["properties"]["colour"] for f in body["features"]}
    assert (colour[fresh], colour[reminded], colour[late]) == ("green", "amber", "red")
