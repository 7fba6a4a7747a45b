"""The 15-minute-circle API: who may read and write what, and bad input refused with nothing saved."""

import json

import pytest
from sqlalchemy import func, select

from cityloop.livability.models import (
    AccessRun,
    Facility,
    FacilityType,
    PlanSite,
    ResidentialArea,
    SitePlan,
    TaskProposal,
)
from cityloop.org import service as org
from cityloop.programme.models import Task
from tests.conftest import shared_path
from tests.livability.helpers import add_area, add_facility, counts, geojson_points, small_world

USERS = ("citizen", "street", "department", "admin", "supervisor", "leader")


def heads(token_for):
    """Bearer headers for every demo role, made before anything is counted (tokens are audited)."""
    return {u: token_for(u) for u in USERS}


YANGJIAPING = (106.512, 29.508)  # inside 杨家坪街道 (the "street" account's street)
HUANGJUEPING = (106.520, 29.482)  # inside 黄桷坪街道 (another street)


def test_facility_directory_is_public_to_every_signed_in_account(client, token_for) -> None:
    H = heads(token_for)
    everyone = {}
    for user in ("citizen", "street", "department", "admin"):
        r = client.get("/api/v1/livability/facilities", headers=token_for(user))
        assert r.status_code == 200
        everyone[user] = {f["id"] for f in r.json()}
    assert len(everyone["citizen"]) > 100 and len(set(map(frozenset, everyone.values()))) == 1
    types = client.get("/api/v1/livability/types", headers=H["citizen"]).json()
    assert {"elderly_station", "bus_stop"} <= {t["code"] for t in types}
    assert client.get("/api/v1/livability/facilities").status_code == 401


def test_residential_areas_are_scoped(client, token_for, db) -> None:
    H = heads(token_for)
    street = client.get("/api/v1/livability/residential-areas", headers=H["street"]).json()
    assert street and {a["street_town"] for a in street} == {"杨家坪街道"}
    everything = client.get("/api/v1/livability/residential-areas", headers=H["supervisor"]).json()
    assert len(everything) == db.query(ResidentialArea).count() > len(street)
    assert client.get("/api/v1/livability/residential-areas", headers=H["department"]).json() == []
    assert client.get("/api/v1/livability/residential-areas", headers=H["citizen"]).status_code == 403


def test_street_writes_only_in_its_own_street(client, token_for, db) -> None:
    H = heads(token_for)
    h = H["street"]
    ok = client.post(
        "/api/v1/livability/residential-areas",
        headers=h,
        json={
            "name": "新小区",
            "lon": YANGJIAPING[0],
            "lat": YANGJIAPING[1],
            "population": 800,
            "elderly_population": 90,
        },
    )
    assert ok.status_code == 201 and ok.json()["street_town"] == "杨家坪街道"
    before = counts(db, ResidentialArea, Facility)
    other = client.post(
        "/api/v1/livability/residential-areas",
        headers=h,
        json={
            "name": "别人的",
            "lon": HUANGJUEPING[0],
            "lat": HUANGJUEPING[1],
            "population": 1,
            "elderly_population": 0,
        },
    )
    assert other.status_code == 422 and "黄桷坪街道" in other.json()["error"]["message"]
    fac = client.post(
        "/api/v1/livability/facilities",
        headers=h,
        json={"type": "park", "name": "别人的公园", "lon": HUANGJUEPING[0], "lat": HUANGJUEPING[1]},
    )
    assert fac.status_code == 422
    foreign = db.scalar(
        select(ResidentialArea).join(ResidentialArea.unit).where(ResidentialArea.unit.has(name="黄桷坪街道"))
    )
    assert (
        client.patch(
            f"/api/v1/livability/residential-areas/{foreign.id}", headers=h, json={"population": 5}
        ).status_code
        == 404
    )
    foreign_fac = db.scalar(
        select(Facility).where(Facility.unit.has(name="黄桷坪街道"), Facility.active.is_(True))
    )
    assert client.delete(f"/api/v1/livability/facilities/{foreign_fac.id}", headers=h).status_code == 404
    citizen = client.post(
        "/api/v1/livability/facilities",
        headers=H["citizen"],
        json={"type": "park", "name": "x", "lon": YANGJIAPING[0], "lat": YANGJIAPING[1]},
    )
    assert citizen.status_code == 403
    assert counts(db, ResidentialArea, Facility) == before
    db.refresh(foreign)
    assert foreign.population != 5


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"population": -1, "elderly_population": 0}, "≥ 0"),
        ({"population": 10, "elderly_population": 11}, "larger than the population"),
        ({"population": 10, "elderly_population": 1, "lon": 116.4, "lat": 39.9}, "outside the district"),
    ],
)
def test_bad_residential_area_is_422_and_saves_nothing(client, token_for, db, body, fragment) -> None:
    H = heads(token_for)
    before = counts(db, ResidentialArea)
    payload = {"name": "坏数据", "lon": YANGJIAPING[0], "lat": YANGJIAPING[1], **body}
    r = client.post(
        "/api/v1/livability/residential-areas",
        headers={**H["admin"], "Accept-Language": "en"},
        json=payload,
    )
    assert r.status_code == 422 and fragment in r.json()["error"]["message"]
    assert counts(db, ResidentialArea) == before


def test_facility_import_lists_every_bad_row_and_saves_nothing(client, token_for, db) -> None:
    H = heads(token_for)
    before = counts(db, Facility)
    data = geojson_points(
        [
            (YANGJIAPING[0], YANGJIAPING[1], {"name": "好站", "type": "养老站"}),
            (YANGJIAPING[0], YANGJIAPING[1], {"name": "怪站", "type": "游泳池"}),
            (116.4, 39.9, {"name": "远站", "type": "养老站"}),
        ]
    )
    r = client.post(
        "/api/v1/livability/facilities/import",
        headers={**H["admin"], "Accept-Language": "en"},
        files={"file": ("f.geojson", data, "application/geo+json")},
        data={"type_map": "养老站=elderly_station"},
    )
    assert r.status_code == 422
    problems = {(d["row"], d["column"]) for d in r.json()["error"]["details"]}
    assert problems == {(2, "type"), (3, "lon/lat")}
    assert counts(db, Facility) == before


def test_real_bus_stops_import_as_facilities_inside_the_real_outline(client, token_for, db) -> None:
    H = heads(token_for)
    outline = json.loads(shared_path("data", "geo", "jiulongpo_district_wgs84.geojson").read_text())
    district = org.find_unit(db, ref="500107")
    org.update_unit(db, actor=None, unit=district, geometry=outline["features"][0]["geometry"])
    db.commit()
    stops = shared_path("data", "geo", "bus_stations_jiulongpo_wgs84.geojson")
    r = client.post(
        "/api/v1/livability/facilities/import",
        headers=H["admin"],
        files={"file": (stops.name, stops.read_bytes(), "application/geo+json")},
        data={"type": "bus_stop", "replace": "true"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 435
    bus = db.scalar(select(FacilityType).where(FacilityType.code == "bus_stop"))
    active = db.query(Facility).filter(Facility.type_id == bus.id, Facility.active.is_(True)).count()
    assert active == 435  # the demo's schematic stops were retired by replace


def test_accessibility_coverage_is_scoped_and_recompute_is_for_district_roles(client, token_for, db) -> None:
    H = heads(token_for)
    street = client.get("/api/v1/livability/accessibility", headers=H["street"]).json()
    units = {c["unit"] for c in street["coverage"]}
    assert units == {"500107001000", "*"}
    district = client.get("/api/v1/livability/accessibility", headers=H["leader"]).json()
    assert len({c["unit"] for c in district["coverage"]}) == 10  # nine streets and the total
    assert client.get("/api/v1/livability/accessibility", headers=H["citizen"]).status_code == 403
    gaps = client.get("/api/v1/livability/accessibility/results?gaps=true", headers=H["street"]).json()
    assert gaps and all(not g["covered"] and g["street_town"] == "杨家坪街道" for g in gaps)
    csv_text = client.get("/api/v1/livability/accessibility/results.csv", headers=H["street"]).text
    assert "杨家坪" in csv_text and "黄桷坪" not in csv_text
    before = counts(db, AccessRun)
    assert (
        client.post("/api/v1/livability/accessibility/runs", headers=H["street"], json={}).status_code == 403
    )
    bad = client.post("/api/v1/livability/accessibility/runs", headers=H["leader"], json={"speed_kmh": 0})
    assert bad.status_code == 422 and counts(db, AccessRun) == before
    r = client.post("/api/v1/livability/accessibility/runs", headers=H["supervisor"], json={"minutes": None})
    assert r.status_code == 201 and r.json()["minutes"] is None


def test_all_types_share_counts_areas_covered_by_every_type(client, token_for, db) -> None:
    H = heads(token_for)
    small_world(db)
    add_area(db, 1, population=100, elderly=10, name="都近")
    add_area(db, 19, population=300, elderly=30, name="一样远")
    for code in [t.code for t in db.scalars(select(FacilityType)).all()]:
        add_facility(db, 0, code)
    db.commit()
    run = client.post(
        "/api/v1/livability/accessibility/runs", headers=H["admin"], json={"minutes": 15}
    ).json()
    cov = client.get("/api/v1/livability/accessibility", headers=H["admin"]).json()
    assert cov["run"]["id"] == run["id"]
    total = {c["type"]: c for c in cov["coverage"] if c["unit"] == "*"}
    assert total["_all"]["population_share"] == 0.25 and total["_all"]["elderly_share"] == 0.25


def test_siting_api_and_one_click_task(client, token_for, db) -> None:
    H = heads(token_for)
    before = counts(db, SitePlan, TaskProposal)
    assert (
        client.post(
            "/api/v1/livability/site-plans", headers=H["street"], json={"type": "park", "k": 1}
        ).status_code
        == 403
    )
    too_many = client.post(
        "/api/v1/livability/site-plans", headers=H["admin"], json={"type": "park", "k": 999}
    )
    assert too_many.status_code == 422
    empty = client.post(
        "/api/v1/livability/site-plans",
        headers=H["admin"],
        json={"type": "park", "k": 1, "candidates": []},
    )
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "validation_error"
    outside = client.post(
        "/api/v1/livability/site-plans",
        headers=H["admin"],
        json={"type": "park", "k": 1, "candidates": [[116.4, 39.9]]},
    )
    assert outside.status_code == 422
    assert counts(db, SitePlan, TaskProposal) == before
    r = client.post(
        "/api/v1/livability/site-plans", headers=H["leader"], json={"type": "elderly_station", "k": 2}
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    cov = plan["coverage"]
    assert plan["weight_by"] == "elderly" and cov["elderly_after"] > cov["elderly_before"]
    assert len(plan["sites"]) == 2 and plan["sites"][0]["added_elderly"] >= plan["sites"][1]["added_elderly"]
    assert client.get(f"/api/v1/livability/site-plans/{plan['id']}", headers=H["street"]).status_code == 403
    assert client.get("/api/v1/livability/site-plans", headers=H["street"]).status_code == 403
    assert client.get("/api/v1/livability/site-plans", headers=H["leader"]).json()[0]["id"] == plan["id"]
    site_id = plan["sites"][0]["id"]
    assert (
        client.post(f"/api/v1/livability/plan-sites/{site_id}/propose-task", headers=H["street"]).status_code
        == 403
    )
    made = client.post(f"/api/v1/livability/plan-sites/{site_id}/propose-task", headers=H["supervisor"])
    assert made.status_code == 201, made.text
    code = made.json()["reference"]
    assert code.startswith("SHQ-")  # a real task in the 15-minute-circle action (issue #7)
    task = db.scalar(select(Task).where(Task.code == code))
    site = db.get(PlanSite, site_id)
    assert task.action.taskforce_unit.code == "tf-shq"
    assert task.responsible_unit_id == site.unit_id and task.responsible_person.unit_id == site.unit_id
    assert [m.name for m in task.milestones] == ["选址确认", "建设", "验收"]
    assert task.place == {"type": "Point", "coordinates": [round(site.lon, 7), round(site.lat, 7)]}
    assert site.name in task.name and "步行圈" in task.site_plan
    again = client.post(f"/api/v1/livability/plan-sites/{site_id}/propose-task", headers=H["supervisor"])
    assert again.status_code == 409 and again.json()["error"]["details"]["reference"] == code
    assert db.scalar(select(func.count()).select_from(Task).where(Task.name == task.name)) == 1
    shown = client.get(f"/api/v1/livability/site-plans/{plan['id']}", headers=H["admin"]).json()
    assert shown["sites"][0]["task_reference"] == code
    assert shown["sites"][0]["task_url"] == f"/programme/tasks/{task.id}"
    listed = client.get("/api/v1/livability/task-proposals", headers=H["leader"]).json()
    assert listed[0]["plan_site_id"] == site_id
    assert client.get("/api/v1/livability/task-proposals", headers=H["citizen"]).status_code == 403
    assert db.scalar(select(PlanSite).where(PlanSite.id == site_id)).idle_space_id is not None


def test_types_are_data_only_admins_change(client, token_for, db) -> None:
    H = heads(token_for)
    body = {"code": "pharmacy", "name": "药店", "name_en": "Pharmacy", "threshold_minutes": 8}
    assert client.post("/api/v1/livability/types", headers=H["supervisor"], json=body).status_code == 403
    assert client.post("/api/v1/livability/types", headers=H["admin"], json=body).status_code == 201
    bad = client.patch(
        "/api/v1/livability/types/pharmacy", headers=H["admin"], json={"threshold_minutes": -2}
    )
    assert bad.status_code == 422
    ok = client.patch("/api/v1/livability/types/pharmacy", headers=H["admin"], json={"threshold_minutes": 6})
    assert ok.json()["threshold_minutes"] == 6
    assert client.get("/api/v1/livability/network", headers=H["street"]).json()["schematic"] is True


def test_one_click_task_needs_a_person_in_the_street_and_saves_nothing_without(client, token_for, db) -> None:
    from cityloop.org.models import Person

    H = heads(token_for)
    plan = client.post(
        "/api/v1/livability/site-plans", headers=H["leader"], json={"type": "elderly_station", "k": 1}
    ).json()
    site = db.get(PlanSite, plan["sites"][0]["id"])
    from cityloop.org.models import Unit

    below = select(Unit.id).where(Unit.path.startswith(site.unit.path))
    for person in db.scalars(select(Person).where(Person.unit_id.in_(below))):
        person.active = False
    db.commit()
    before = counts(db, Task, TaskProposal)
    r = client.post(f"/api/v1/livability/plan-sites/{site.id}/propose-task", headers=H["leader"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_responsible_person"
    assert site.unit.name in r.json()["error"]["message"]
    assert counts(db, Task, TaskProposal) == before


def test_without_the_programme_bridge_a_proposal_is_recorded(client, token_for, db) -> None:
    from cityloop import bridges
    from cityloop.core.audit import Actor
    from cityloop.livability import task_bridge

    plan = client.post(
        "/api/v1/livability/site-plans", headers=heads(token_for)["leader"], json={"type": "park", "k": 1}
    ).json()
    site = db.get(PlanSite, plan["sites"][0]["id"])
    before = counts(db, Task)
    bridges.uninstall()
    try:
        ref = task_bridge.propose_task(db, site=site, facility_type=site.plan.type, actor=Actor("t"))
    finally:
        bridges.install()
    assert ref.startswith("LV-TP-") and counts(db, Task)[0] == before[0]


def test_the_department_leading_the_action_sees_plans_and_makes_tasks_others_do_not(
    client, token_for, db
) -> None:
    """Scope rule: 民政局 leads “15分钟高品质生活服务圈”, so it reads coverage district-wide, sees the site
    plans and makes the one-click task; 城管局 (the demo department) sees none of it."""
    from cityloop.core.audit import Actor

    org.create_user(
        db, actor=Actor("test"), username="mzj", password="pw-mzj-12345", role="department",
        unit=org.find_unit(db, ref="dept-mzj"),
    )  # fmt: skip
    db.commit()
    H = heads(token_for)
    mzj, cgj = token_for("mzj"), H["department"]
    plan = client.post(
        "/api/v1/livability/site-plans", headers=H["leader"], json={"type": "elderly_canteen", "k": 1}
    ).json()
    site_id = plan["sites"][0]["id"]
    # Coverage: the lead department reads every street; another department reads nothing.
    lead_cov = client.get("/api/v1/livability/accessibility", headers=mzj).json()["coverage"]
    other_cov = client.get("/api/v1/livability/accessibility", headers=cgj).json()["coverage"]
    assert len({c["unit"] for c in lead_cov if c["unit"] != "*"}) >= 2
    assert not [c for c in other_cov if c["unit"] != "*" and c["population"]]
    assert client.get("/api/v1/livability/site-plans", headers=mzj).status_code == 200
    assert client.get(f"/api/v1/livability/site-plans/{plan['id']}", headers=mzj).status_code == 200
    assert client.get("/api/v1/livability/site-plans", headers=cgj).status_code == 403
    assert (
        client.post(f"/api/v1/livability/plan-sites/{site_id}/propose-task", headers=cgj).status_code == 403
    )
    # It does not make plans (analysis stays with the district roles) …
    made_plan = client.post("/api/v1/livability/site-plans", headers=mzj, json={"type": "park", "k": 1})
    assert made_plan.status_code == 403
    # … but makes the task in the action it leads, and then sees it in its programme scope.
    r = client.post(f"/api/v1/livability/plan-sites/{site_id}/propose-task", headers=mzj)
    assert r.status_code == 201, r.text
    task = db.scalar(select(Task).where(Task.code == r.json()["reference"]))
    assert client.get(f"/api/v1/programme/tasks/{task.id}", headers=mzj).status_code == 200
