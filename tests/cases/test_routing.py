"""Routing: point → grid → street/town → unit; rules as data; the area index follows the units table."""

from sqlalchemy import select

from cityloop.cases import categories, routing
from cityloop.core.audit import Actor
from cityloop.org import service as org
from cityloop.org.models import Unit
from tests.cases.helpers import HJP, OUTSIDE, YJP, point_in, report

ADMIN = Actor("test")


def test_a_point_finds_its_grid_cell_and_street(db) -> None:
    lon, lat = point_in(db, f"{HJP}-C2-G1")
    found = routing.locate(db, lon=lon, lat=lat)
    assert found.inside and found.grid.code == f"{HJP}-C2-G1" and found.street.code == HJP
    assert [a.kind for a in found.chain] == ["grid", "community", "street", "district"]
    assert not routing.locate(db, lon=OUTSIDE[0], lat=OUTSIDE[1]).inside


def test_the_index_is_reused_and_rebuilt_when_a_boundary_changes(db) -> None:
    first = routing.areas(db)
    assert routing.areas(db) is first  # built once
    grid = db.execute(select(Unit).where(Unit.code == f"{YJP}-C1-G1")).scalar_one()
    lon, lat = point_in(db, f"{HJP}-C1-G1")
    d = 0.0005
    square = {
        "type": "Polygon",
        "coordinates": [
            [
                [lon - d, lat - d],
                [lon + d, lat - d],
                [lon + d, lat + d],
                [lon - d, lat + d],
                [lon - d, lat - d],
            ]
        ],
    }
    org.update_unit(db, actor=ADMIN, unit=grid, geometry=square)
    assert routing.areas(db) is not first
    # The smallest area containing the point wins: the moved grid cell now claims it.
    assert routing.locate(db, lon=lon, lat=lat).grid.code == f"{YJP}-C1-G1"


def test_rules_most_specific_first_then_default_then_manual(client, token_for, db) -> None:
    admin = token_for("admin")
    cat = categories.get_by_code(db, code="BJ0118")  # 路灯 → 城管局 by default
    grid = f"{HJP}-C1-G1"
    lon, lat = point_in(db, grid)

    def unit_now():
        return routing.route(db, category=cat, located=routing.locate(db, lon=lon, lat=lat)).unit.code

    assert unit_now() == "dept-cgj"
    street_rule = client.post(
        "/api/v1/routing-rules", headers=admin, json={"category": "BJ0118", "area": HJP, "unit": HJP}
    )
    assert street_rule.status_code == 201, street_rule.text
    assert unit_now() == HJP
    grid_rule = client.post(
        "/api/v1/routing-rules",
        headers=admin,
        json={"category": "BJ0118", "area": f"{HJP}-C1", "unit": f"enf-{HJP}"},
    ).json()
    assert unit_now() == f"enf-{HJP}"  # the community is smaller than the street
    r = client.patch(
        f"/api/v1/routing-rules/{grid_rule['id']}",
        headers=admin,
        json={"version": grid_rule["version"], "active": False},
    )
    assert (
        r.status_code == 200
        and r.json()["active"] is False
        and r.json()["version"] == grid_rule["version"] + 1
    )
    assert unit_now() == HJP
    stale = client.patch(
        f"/api/v1/routing-rules/{grid_rule['id']}",
        headers=admin,
        json={"version": grid_rule["version"], "active": True},
    )
    assert stale.status_code == 409
    body = report(client, token_for("dispatcher"), db, category="BJ0118", grid=grid).json()
    assert body["unit"]["code"] == HJP and body["routing_reason"] == f"rule:{street_rule.json()['id']}"


def test_bad_rules_are_refused(client, token_for, db) -> None:
    admin = token_for("admin")
    for body in (
        {"unit": HJP},  # neither category nor area: would swallow everything
        {"category": "BJ0118", "unit": "no-such-unit"},
        {"category": "BJ0118", "area": "dept-cgj", "unit": HJP},  # a department is not an area
        {"category": "XX", "unit": HJP},
        {"category": "BJ0118", "unit": f"{HJP}-C1-G1"},  # a grid cell does not handle cases
    ):
        r = client.post("/api/v1/routing-rules", headers=admin, json=body)
        assert r.status_code == 422, (body, r.text)


def test_enforcement_without_a_squadron_falls_back_to_the_manual_queue(db) -> None:
    squadron = org.find_unit(db, ref=f"enf-{HJP}")
    org.update_unit(db, actor=ADMIN, unit=squadron, active=False)
    cat = categories.get_by_code(db, code="SJ0505")
    lon, lat = point_in(db, f"{HJP}-C1-G1")
    decided = routing.route(db, category=cat, located=routing.locate(db, lon=lon, lat=lat))
    assert decided.unit is None and decided.reason == "manual"
