"""Industrial buildings: grading as data, ranking with trend and drivers, Excel in and out."""

import io

from openpyxl import load_workbook
from sqlalchemy import func, select

from cityloop.core.audit import AuditRecord
from cityloop.resources import grading
from cityloop.resources.models import Building, BuildingReport

USERS = ("citizen", "street", "department", "admin", "supervisor")
YANGJIAPING = (106.512, 29.508)


def heads(token_for):
    return {u: token_for(u) for u in USERS}


def counts(db):
    return tuple(
        db.scalar(select(func.count()).select_from(m)) for m in (Building, BuildingReport, AuditRecord)
    )


def test_scores_follow_the_indicator_system(db) -> None:
    system = grading.active_system(db)
    best = {i.code: i.target for i in system.indicators}
    worst = {i.code: i.floor for i in system.indicators}
    assert grading.score(system, best).total == 100 and grading.score(system, best).grade == "A"
    assert grading.score(system, worst).total == 0 and grading.score(system, worst).grade == "D"
    half_tax = dict(best, tax_per_m2=850)  # halfway between floor 200 and target 1,500
    assert grading.score(system, half_tax).total == 87.5
    less_energy = dict(best, energy_per_m2=30)  # below the target of a lower-is-better indicator
    assert grading.score(system, less_energy).parts["energy_per_m2"] == 5
    partial = grading.score(system, {"occupancy_rate": 95})
    assert partial.total == 20 and "tax_per_m2" in partial.missing


def test_ranking_shows_grade_change_and_the_indicators_that_drove_it(client, token_for, db) -> None:
    H = heads(token_for)
    r = client.post(
        "/api/v1/resources/buildings",
        headers=H["street"],
        json={
            "code": "T-1",
            "name": "测试楼",
            "lon": YANGJIAPING[0],
            "lat": YANGJIAPING[1],
            "floor_area_m2": 20000,
        },
    )
    assert r.status_code == 201
    system = grading.active_system(db)
    good = {i.code: i.target for i in system.indicators}
    worse = dict(good, tax_per_m2=200, occupancy_rate=80)  # −25 and −6.67 points
    assert (
        client.put(
            "/api/v1/resources/buildings/T-1/reports/2027-Q1", headers=H["street"], json={"values": good}
        ).json()["grade"]
        == "A"
    )
    assert (
        client.put(
            "/api/v1/resources/buildings/T-1/reports/2027-Q2", headers=H["street"], json={"values": worse}
        ).json()["grade"]
        == "C"
    )
    ranked = client.get("/api/v1/resources/grading?period=2027-Q2", headers=H["street"]).json()
    row = next(x for x in ranked if x["building"]["code"] == "T-1")
    assert row["previous_grade"] == "A" and row["trend"] == "down" and row["previous_period"] == "2027-Q1"
    assert [d["code"] for d in row["drivers"]] == ["tax_per_m2", "occupancy_rate"]
    assert row["drivers"][0]["delta"] == -25
    assert {x["building"]["street_town"] for x in ranked} == {"杨家坪街道"}
    everyone = client.get("/api/v1/resources/grading?period=2026-Q3", headers=H["supervisor"]).json()
    assert [x["rank"] for x in everyone] == list(range(1, len(everyone) + 1))
    assert client.get("/api/v1/resources/grading?period=2026-Q3", headers=H["citizen"]).status_code == 403
    bad = client.put(
        "/api/v1/resources/buildings/T-1/reports/Q2-2027", headers=H["street"], json={"values": good}
    )
    assert bad.status_code == 422
    unknown = client.put(
        "/api/v1/resources/buildings/T-1/reports/2027-Q3", headers=H["street"], json={"values": {"mood": 3}}
    )
    assert unknown.status_code == 422


def test_grading_system_is_data_only_admins_replace(client, token_for, db) -> None:
    H = heads(token_for)
    current = client.get("/api/v1/resources/grading-system", headers=H["street"]).json()
    assert sum(i["weight"] for i in current["indicators"]) == 100
    stars = dict(
        current,
        grades=[
            {"grade": "五星", "min_score": 90},
            {"grade": "四星", "min_score": 75},
            {"grade": "三星", "min_score": 0},
        ],
    )
    assert (
        client.put("/api/v1/resources/grading-system", headers=H["supervisor"], json=stars).status_code == 403
    )
    wrong = dict(current, indicators=current["indicators"][:-1])
    r = client.put(
        "/api/v1/resources/grading-system", headers={**H["admin"], "Accept-Language": "en"}, json=wrong
    )
    assert r.status_code == 422 and "not 100" in r.json()["error"]["message"]
    assert client.put("/api/v1/resources/grading-system", headers=H["admin"], json=stars).status_code == 200
    ranked = client.get("/api/v1/resources/grading?period=2026-Q3", headers=H["admin"]).json()
    assert {x["grade"] for x in ranked} <= {"五星", "四星", "三星"}


def _fill_template(data: bytes, buildings: list[list], reports: list[list]) -> bytes:
    wb = load_workbook(io.BytesIO(data))
    for row in buildings:
        wb["楼宇"].append(row)
    for row in reports:
        wb["指标"].append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_excel_template_import_and_export_round_trip(client, token_for, db) -> None:
    H = heads(token_for)
    template = client.get("/api/v1/resources/buildings/template.xlsx", headers=H["street"])
    assert template.status_code == 200
    headers = [
        c.value for c in next(load_workbook(io.BytesIO(template.content))["指标"].iter_rows(max_row=1))
    ]
    assert (
        headers[:2] == ["楼宇编码 [code]", "期间(2026 / 2026-Q3 / 2026-09) [period]"] and len(headers) == 10
    )
    filled = _fill_template(
        template.content,
        [["X-1", "新科技楼", "office", "某路1号", YANGJIAPING[0], YANGJIAPING[1], 30000, "运营公司"]],
        [["X-1", "2026-Q3", 95, 1500, 20000, 70, 60, 95, 60, 1], ["BLD-001", "2026-Q3", 50]],
    )
    r = client.post(
        "/api/v1/resources/buildings/import",
        headers=H["admin"],
        files={"file": ("b.xlsx", filled, "application/octet-stream")},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"buildings": 1, "reports": 2}
    export = client.get("/api/v1/resources/grading/export.xlsx?period=2026-Q3", headers=H["admin"])
    rows = list(load_workbook(io.BytesIO(export.content)).active.iter_rows(values_only=True))
    new = next(r for r in rows if r[1] == "X-1")
    assert new[0] == 1 and new[5] == "A" and new[4] == 100


def test_excel_import_lists_every_bad_cell_and_imports_nothing(client, token_for, db) -> None:
    H = heads(token_for)
    template = client.get("/api/v1/resources/buildings/template.xlsx", headers=H["admin"]).content
    filled = _fill_template(
        template,
        [
            ["Y-1", "好楼", "office", "", YANGJIAPING[0], YANGJIAPING[1], 10000, ""],
            ["Y-2", "", "castle", "", 116.4, 39.9, -3, ""],
        ],
        [["Y-1", "2026-Q3", 120, "很多"], ["NOPE", "2026-13", 10]],
    )
    before = counts(db)
    r = client.post(
        "/api/v1/resources/buildings/import",
        headers={**H["admin"], "Accept-Language": "en"},
        files={"file": ("b.xlsx", filled, "application/octet-stream")},
    )
    assert r.status_code == 422
    cells = {(d["sheet"], d["row"], d["column"]) for d in r.json()["error"]["details"]}
    assert {("楼宇", 3, "B"), ("楼宇", 3, "C"), ("楼宇", 3, "G"), ("楼宇", 3, "E")} <= cells
    assert {("指标", 2, "D"), ("指标", 3, "A"), ("指标", 3, "B")} <= cells
    assert ("指标", 2, "C") not in cells  # 120 % is odd but a number ≥ 0: scoring caps it
    assert counts(db) == before
    street = client.post(
        "/api/v1/resources/buildings/import",
        headers=H["street"],
        files={
            "file": (
                "b.xlsx",
                _fill_template(template, [], [["BLD-002", "2026-Q4", 10]]),
                "application/octet-stream",
            )
        },
    )
    assert street.status_code == 422 and "another area" in str(street.json()["error"]["details"])
    junk = client.post(
        "/api/v1/resources/buildings/import",
        headers=H["admin"],
        files={"file": ("b.xlsx", b"not a workbook", "x")},
    )
    assert junk.status_code == 422 and counts(db) == before


def test_buildings_are_scoped_per_endpoint(client, token_for, db) -> None:
    H = heads(token_for)
    mine = client.get("/api/v1/resources/buildings", headers=H["street"]).json()
    everything = client.get("/api/v1/resources/buildings", headers=H["supervisor"]).json()
    assert mine and {b["street_town"] for b in mine} == {"杨家坪街道"} and len(everything) > len(mine)
    assert client.get("/api/v1/resources/buildings", headers=H["citizen"]).status_code == 403
    assert client.get("/api/v1/resources/buildings", headers=H["department"]).json() == []
    other = next(b["code"] for b in everything if b["street_town"] != "杨家坪街道")
    assert client.get(f"/api/v1/resources/buildings/{other}", headers=H["street"]).status_code == 404
    detail = client.get(f"/api/v1/resources/buildings/{mine[0]['code']}", headers=H["street"]).json()
    assert [h["period"] for h in detail["history"]] == ["2026-Q2", "2026-Q3"]
    before = counts(db)
    put = client.put(
        f"/api/v1/resources/buildings/{other}/reports/2026-Q4", headers=H["street"], json={"values": {}}
    )
    assert put.status_code == 404 and counts(db) == before
    export = client.get("/api/v1/resources/grading/export.xlsx?period=2026-Q3", headers=H["street"])
    codes = {
        r[1] for r in load_workbook(io.BytesIO(export.content)).active.iter_rows(min_row=2, values_only=True)
    }
    assert codes == {b["code"] for b in mine}
    assert (
        client.get("/api/v1/resources/grading/export.xlsx?period=2026-Q3", headers=H["citizen"]).status_code
        == 403
    )
