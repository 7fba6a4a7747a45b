"""`cityloop livability …`: network import, accessibility CSV, siting, one-click task; bad input
exits 2 with one line and saves nothing."""

import csv
import io

from sqlalchemy import select
from typer.testing import CliRunner

from cityloop.cli import app
from cityloop.livability.models import (
    AccessRun,
    PlanSite,
    ResidentialArea,
    SitePlan,
    TaskProposal,
    WalkNetwork,
)
from cityloop.resources.models import IdleSpace
from tests.conftest import shared_path
from tests.livability.helpers import STEP_M, add_area, add_facility, counts, small_world
from tests.livability.osm_fixtures import NODES, write_osm_pbf, write_osm_xml

runner = CliRunner()


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_import_network_xml_and_pbf_become_the_active_network(db, tmp_path) -> None:
    r = runner.invoke(app, ["livability", "import-network", "--osm", str(write_osm_xml(tmp_path / "y.osm"))])
    assert r.exit_code == 0, r.output
    assert "6 nodes, 5 edges" in r.output
    r = runner.invoke(
        app, ["livability", "import-network", "--osm", str(write_osm_pbf(tmp_path / "y.osm.pbf"))]
    )
    assert r.exit_code == 0, r.output
    active = db.scalars(select(WalkNetwork).where(WalkNetwork.active.is_(True))).all()
    assert len(active) == 1 and active[0].source == "y.osm.pbf" and active[0].edge_count == 5


def test_import_network_refuses_other_files_with_one_line(db, tmp_path) -> None:
    before = counts(db, WalkNetwork)
    junk = tmp_path / "junk.osm"
    junk.write_text('{"not": "osm"}')
    assert "not an OpenStreetMap file" in one_line_error(
        runner.invoke(app, ["livability", "import-network", "--osm", str(junk)])
    )
    missing = runner.invoke(app, ["livability", "import-network", "--osm", str(tmp_path / "none.osm")])
    assert "file not found" in one_line_error(missing)
    far = {n: (lon + 10.0, lat + 10.0) for n, (lon, lat) in NODES.items()}  # 1,500 km away
    outside = runner.invoke(
        app, ["livability", "import-network", "--osm", str(write_osm_xml(tmp_path / "far.osm", far))]
    )
    assert "covers nothing of the district" in one_line_error(outside)
    assert counts(db, WalkNetwork) == before


def test_neighbouring_network_is_clipped_to_the_district_margin(db) -> None:
    # The real planning network of Shapingba/Xiyong touches this district only along its north edge.
    shapingba = shared_path("data", "geo", "shapingba_roadnet", "roadnet_as_osm_R4.osm")
    r = runner.invoke(app, ["livability", "import-network", "--osm", str(shapingba)])
    assert r.exit_code == 0, r.output
    row = db.scalar(select(WalkNetwork).where(WalkNetwork.active.is_(True)))
    assert 0 < row.node_count < 5000 and row.bbox[1] < 29.6 and row.schematic is False


def test_accessibility_writes_one_row_per_area_and_type(db, tmp_path) -> None:
    small_world(db)
    add_area(db, 20, population=1000, elderly=300, name="东头小区")  # 20 steps ≈ 1,938 m ≈ 25.8 min
    add_area(db, 5, population=500, elderly=100, name="近小区")  # 5 steps ≈ 6.5 min
    add_facility(db, 0, "elderly_station")
    add_facility(db, 19, "market")
    db.commit()
    out = tmp_path / "acc.csv"
    r = runner.invoke(app, ["livability", "accessibility", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    types = db.scalar(select(AccessRun).order_by(AccessRun.id.desc())).type_codes
    assert len(rows) == 2 * len(types)
    far = {r["facility_type"]: r for r in rows if r["residential_area"] == "东头小区"}
    assert abs(float(far["elderly_station"]["minutes"]) - 20 * STEP_M / 75) < 0.01
    assert far["elderly_station"]["covered"] == "no" and far["market"]["covered"] == "yes"
    assert far["kindergarten"]["minutes"] == "" and far["kindergarten"]["covered"] == "no"
    near = {r["facility_type"]: r for r in rows if r["residential_area"] == "近小区"}
    assert near["elderly_station"]["covered"] == "yes"
    # A slower walk and a tighter threshold turn the near one into a gap.
    r = runner.invoke(
        app, ["livability", "accessibility", "--minutes", "5", "--speed-kmh", "3", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    near = {r["facility_type"]: r for r in rows if r["residential_area"] == "近小区"}
    assert near["elderly_station"]["covered"] == "no" and near["elderly_station"]["threshold_minutes"] == "5"


def test_accessibility_refuses_bad_parameters(db, tmp_path) -> None:
    before = counts(db, AccessRun)
    for args in (["--minutes", "-3"], ["--speed-kmh", "0"], ["--minutes", "500"]):
        r = runner.invoke(app, ["livability", "accessibility", "--out", str(tmp_path / "x.csv"), *args])
        one_line_error(r)
    assert counts(db, AccessRun) == before and not (tmp_path / "x.csv").exists()


def test_site_chooses_the_candidate_that_covers_the_uncovered(db, tmp_path) -> None:
    small_world(db)
    add_area(db, 18, population=2000, elderly=800, name="东区")
    add_area(db, 2, population=900, elderly=100, name="西区")
    add_facility(db, 0, "elderly_station")
    db.commit()
    cands = tmp_path / "c.csv"
    cands.write_text("name,lon,lat\n西候选,106.503,29.508\n东候选,106.519,29.508\n中候选,106.512,29.508\n")
    r = runner.invoke(
        app, ["livability", "site", "--type", "elderly_station", "--k", "1", "--candidates", str(cands)]
    )
    assert r.exit_code == 0, r.output
    plan = db.scalar(select(SitePlan).order_by(SitePlan.id.desc()))
    site = db.scalar(select(PlanSite).where(PlanSite.plan_id == plan.id))
    assert site.name == "东候选" and site.added_elderly == 800  # elderly weight for an elderly type
    assert plan.coverage["elderly_before"] == 100 and plan.coverage["elderly_after"] == 900
    r = runner.invoke(app, ["livability", "propose-task", str(site.id)])
    assert r.exit_code == 0 and "SHQ-" in r.output, r.output
    proposal = db.scalar(select(TaskProposal).where(TaskProposal.plan_site_id == site.id))
    assert proposal.action_code == "tf-shq" and "东候选" in proposal.title
    assert "already exists" in one_line_error(
        runner.invoke(app, ["livability", "propose-task", str(site.id)])
    )


def test_site_bad_input_exits_2_and_saves_nothing(db, tmp_path) -> None:
    before = counts(db, SitePlan, PlanSite)
    idle = len(db.scalars(select(IdleSpace).where(IdleSpace.status == "idle")).all())
    cases = [
        (["--type", "elderly_station", "--k", str(idle + 1)], "between 1 and the number of candidates"),
        (["--type", "elderly_station", "--k", "0"], "between 1 and the number of candidates"),
        (["--type", "swimming_pool", "--k", "1"], "not configured"),
        (["--type", "elderly_station", "--k", "1", "--method", "magic"], "Method magic"),
    ]
    for args, fragment in cases:
        assert fragment in one_line_error(runner.invoke(app, ["livability", "site", *args]))
    outside = tmp_path / "far.csv"
    outside.write_text("name,lon,lat\n北京,116.40,39.90\n")
    r = runner.invoke(app, ["livability", "site", "--type", "park", "--k", "1", "--candidates", str(outside)])
    assert "outside the district" in one_line_error(r)
    empty = tmp_path / "empty.csv"
    empty.write_text("name,lon,lat\n")
    r = runner.invoke(app, ["livability", "site", "--type", "park", "--k", "1", "--candidates", str(empty)])
    assert "has no rows" in one_line_error(r)
    db.execute(IdleSpace.__table__.update().values(status="in_use"))
    r = runner.invoke(app, ["livability", "site", "--type", "park", "--k", "1"])
    assert "candidate set is empty" in one_line_error(r)
    assert counts(db, SitePlan, PlanSite) == before


def test_import_areas_refuses_negative_population_and_lists_every_row(db, tmp_path) -> None:
    before = counts(db, ResidentialArea)
    f = tmp_path / "areas.csv"
    f.write_text(
        "name,lon,lat,population,elderly_population\n"
        "好小区,106.51,29.508,1000,100\n"
        "负人口,106.51,29.509,-5,0\n"
        "老人多,106.51,29.510,10,50\n"
        "远方,116.40,39.90,10,1\n",
        encoding="utf-8",
    )
    r = runner.invoke(app, ["livability", "import-areas", str(f)])
    assert "3 problems" in one_line_error(r)
    assert counts(db, ResidentialArea) == before
