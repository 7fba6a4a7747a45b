"""The CLI: accounts, tokens, boundary import; bad input exits 2 with one line and changes nothing."""

import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cityloop.cli import app
from cityloop.core.audit import AuditRecord
from cityloop.org.models import Unit, User
from tests.conftest import shared_path

runner = CliRunner()


def audit_count(db) -> int:
    return db.scalar(select(func.count()).select_from(AuditRecord))


def test_users_create_by_unit_name_and_tokens_create_prints_only_the_token(db, client) -> None:
    r = runner.invoke(
        app,
        [
            "users",
            "create",
            "--username",
            "wang",
            "--password",
            "a-good-pass",
            "--role",
            "inspector",
            "--unit",
            "杨家坪街道1-1网格",
        ],
    )
    assert r.exit_code == 0, r.output
    assert db.scalar(select(User).where(User.username == "wang")).role == "inspector"
    t = runner.invoke(app, ["tokens", "create", "--username", "wang"])
    token = t.stdout.strip()
    assert t.exit_code == 0 and token.startswith("clp_") and "\n" not in token
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "wang"


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--role", "wizard", "--unit", "500107"], "Unknown role"),
        (["--role", "street", "--unit", "nowhere"], "No such unit"),
        (["--role", "street", "--unit", "500107", "--password", "short"], "at least 8"),
    ],
)
def test_users_create_refuses_bad_input_with_exit_2(db, args, fragment) -> None:
    base = ["users", "create", "--username", "li", "--password", "long-enough"]
    r = runner.invoke(app, base + args)
    assert r.exit_code == 2
    assert fragment in r.output and len(r.output.strip().splitlines()) == 1
    assert db.scalar(select(User).where(User.username == "li")) is None


def _collection(features):
    return {"type": "FeatureCollection", "features": features}


def _square(name, lon=106.5, lat=29.5, d=0.01):
    ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    return {
        "type": "Feature",
        "properties": {"NAME": name},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_import_units_matches_names_with_or_without_suffix(db, tmp_path) -> None:
    f = tmp_path / "streets.geojson"
    f.write_text(
        json.dumps(_collection([_square("杨家坪"), _square("黄桷坪街道", lon=106.52)])), encoding="utf-8"
    )
    r = runner.invoke(app, ["org", "import-units", str(f), "--kind", "street", "--name-field", "NAME"])
    assert r.exit_code == 0, r.output
    unit = db.scalar(select(Unit).where(Unit.name == "杨家坪街道"))
    db.refresh(unit)
    from shapely.geometry import box, shape

    assert shape(unit.geometry).equals(box(106.5, 29.5, 106.51, 29.51)) and not unit.geometry_schematic


def test_import_units_converts_gcj02_to_wgs84(db, tmp_path) -> None:
    f = tmp_path / "gcj.geojson"
    f.write_text(json.dumps(_collection([_square("杨家坪街道")])), encoding="utf-8")
    r = runner.invoke(
        app, ["org", "import-units", str(f), "--kind", "street", "--name-field", "NAME", "--crs", "gcj02"]
    )
    assert r.exit_code == 0, r.output
    unit = db.scalar(select(Unit).where(Unit.name == "杨家坪街道"))
    db.refresh(unit)
    from shapely.geometry import shape

    minx, miny, _, _ = shape(unit.geometry).bounds
    assert 106.49 < minx < 106.4999 and 29.5 < miny < 29.505  # WGS84 lies west/north of GCJ-02 here


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("not json at all", "Cannot read"),
        (json.dumps({"type": "Topology"}), "not a GeoJSON"),
        (json.dumps(_collection([])), "no features"),
        (json.dumps(_collection([{**_square("杨家坪"), "properties": {}}])), "no property NAME"),
        (
            json.dumps(
                _collection(
                    [{**_square("杨家坪"), "geometry": {"type": "Point", "coordinates": [106.5, 29.5]}}]
                )
            ),
            "not a Polygon",
        ),
        (json.dumps(_collection([_square("杨家坪"), _square("不存在街道")])), "不存在街道"),
    ],
)
def test_import_units_bad_files_exit_2_and_change_nothing(db, tmp_path, content, fragment) -> None:
    before = audit_count(db)
    f = tmp_path / "bad.geojson"
    f.write_text(content, encoding="utf-8")
    r = runner.invoke(app, ["org", "import-units", str(f), "--kind", "street", "--name-field", "NAME"])
    assert r.exit_code == 2, r.output
    assert fragment in r.output and len(r.output.strip().splitlines()) == 1
    assert audit_count(db) == before
    assert db.scalar(select(Unit).where(Unit.name == "杨家坪街道")).geometry_schematic


def test_import_units_missing_file_and_bad_crs_exit_2(db) -> None:
    r = runner.invoke(
        app, ["org", "import-units", "/no/such.geojson", "--kind", "street", "--name-field", "NAME"]
    )
    assert r.exit_code == 2 and "not found" in r.output
    r = runner.invoke(
        app, ["org", "import-units", __file__, "--kind", "street", "--name-field", "N", "--crs", "utm"]
    )
    assert r.exit_code == 2 and "--crs" in r.output


def test_import_the_real_district_outline_from_datav_gcj02(db) -> None:
    path = shared_path("data", "geo", "datav_500107_jiulongpo_district_gcj02.json")
    wgs = json.loads(
        shared_path("data", "geo", "jiulongpo_district_wgs84.geojson").read_text(encoding="utf-8")
    )
    r = runner.invoke(
        app,
        ["org", "import-units", str(path), "--kind", "district", "--name-field", "name", "--crs", "gcj02"],
    )
    assert r.exit_code == 0, r.output
    from shapely.geometry import shape

    unit = db.scalar(select(Unit).where(Unit.code == "500107"))
    db.refresh(unit)
    ours, reference = shape(unit.geometry), shape(wgs["features"][0]["geometry"])
    # Our GCJ-02 → WGS84 conversion agrees with the published WGS84 outline to within ~1 %.
    assert ours.symmetric_difference(reference).area / reference.area < 0.01
    assert 0.038 < ours.area < 0.045  # ~432 km² at 29.5°N in square degrees


def test_import_the_real_wgs84_outline(db) -> None:
    path = shared_path("data", "geo", "jiulongpo_district_wgs84.geojson")
    r = runner.invoke(app, ["org", "import-units", str(path), "--kind", "district", "--name-field", "name"])
    assert r.exit_code == 0, r.output
