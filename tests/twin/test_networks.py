"""Importing water, drainage and gas models: stored with elements and geometry, or refused whole."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cityloop.core.audit import Actor
from cityloop.core.errors import ValidationFailed
from cityloop.org import service as org
from cityloop.twin import networks
from cityloop.twin.models import Element, Network
from cityloop.twin.placement import Placement
from tests.twin.conftest import DEMO_DATA, ORIGIN, gas_json, import_water, net_path


def count(db, model):
    return db.scalar(select(func.count()).select_from(model))


def test_water_import_stores_file_elements_geometry_and_a_generated_valve_layer(db) -> None:
    net = import_water(db)
    assert net.version == 1 and len(net.sha256) == 64 and net.model_bytes.startswith(b"[TITLE]")
    assert net.schematic and net.valve_layer == "generated-strategic-N-1"
    counts = net.summary["counts"]
    assert counts["junction"] == 9 and counts["pipe"] == 12 and counts["tank"] == 1 and counts["pump"] == 1
    pipe = db.scalar(
        select(Element).where(Element.network_id == net.id, Element.ref == "10", Element.category == "link")
    )
    assert pipe.category == "link" and pipe.geometry["type"] == "LineString"
    assert pipe.props["from"] == "10" and pipe.props["length_m"] > 0
    lon, lat = db.scalar(
        select(Element).where(Element.network_id == net.id, Element.ref == "22", Element.category == "node")
    ).geometry["coordinates"]
    assert abs(lon - ORIGIN[0]) < 0.02 and abs(lat - ORIGIN[1]) < 0.02
    valves = db.scalars(
        select(Element).where(Element.network_id == net.id, Element.category == "valve")
    ).all()
    assert valves and all(v.props["generated"] for v in valves)


def test_reimport_bumps_the_version_and_replaces_elements(db) -> None:
    first = import_water(db)
    n_before = count(db, Element)
    again = import_water(db)
    assert again.id == first.id and again.version == 2 and count(db, Element) == n_before


def test_given_valve_layer_is_used_and_marked_as_from_the_file(db) -> None:
    net = import_water(db, valves=[("10", "10"), ("11", "11")])
    assert net.valve_layer == "file" and net.summary["valves"] == 2


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        (" 10              \t10              \t11 ", " 10 10 NOPE ", ["NOPE", "PIPES", "unknown node"]),
        ("10530", "-10530", ["PIPES", "10", "length"]),
        ("[JUNCTIONS]", "[JUNCTIONS]\n 10 710 0", ["10", "twice"]),
    ],
)
def test_bad_water_file_names_line_and_element_and_imports_nothing(db, old, new, words) -> None:
    text = net_path("Net1").read_text()
    bad = text.replace(old, new, 1)
    assert bad != text
    marker = new.strip().splitlines()[-1].split()[-1]
    line = next(i for i, ln in enumerate(bad.splitlines(), 1) if marker in ln.split())
    before = (count(db, Network), count(db, Element))
    with pytest.raises(ValidationFailed) as err:
        networks.import_network(
            db,
            actor=Actor("t"),
            kind="water",
            name="bad",
            data=bad.encode(),
            file_name="bad.inp",
            unit=org.find_unit(db, ref="util-water"),
            placement=Placement.from_options(crs=None, origin=ORIGIN, scale=5.0),
        )
    message = str(err.value)
    assert all(word in message for word in words), message
    assert "line" in message and (str(line) in message or "first on line" in message), message
    assert (count(db, Network), count(db, Element)) == before


def test_no_placement_for_drawing_coordinates_is_refused(db) -> None:
    with pytest.raises(ValidationFailed, match="--origin"):
        networks.import_network(
            db, actor=Actor("t"), kind="water", name="x", data=net_path("Net1").read_bytes(),
            file_name="Net1.inp", unit=org.find_unit(db, ref="util-water"), placement=None,
        )  # fmt: skip


def test_drainage_import_and_unknown_node_error(db, place) -> None:
    data = (DEMO_DATA / "drainage_demo.inp").read_bytes()
    unit = org.find_unit(db, ref="util-drain")
    net = networks.import_network(
        db, actor=Actor("t"), kind="drainage", name="drain", data=data, file_name="d.inp", unit=unit,
        placement=place,
    )  # fmt: skip
    assert net.summary["counts"]["conduit"] == 10 and net.summary["counts"]["outfall"] == 1
    assert net.valve_layer == "none"
    bad = data.replace(b"C4     J5   J6", b"C4     J5   J66")
    with pytest.raises(ValidationFailed) as err:
        networks.import_network(
            db, actor=Actor("t"), kind="drainage", name="drain2", data=bad, file_name="d.inp", unit=unit,
            placement=place,
        )  # fmt: skip
    assert "J66" in str(err.value) and "CONDUITS" in str(err.value) and "line" in str(err.value)
    neg = data.replace(b"C3     J3   J4  150", b"C3     J3   J4  -150")
    with pytest.raises(ValidationFailed, match=r"C3.*length"):
        networks.import_network(
            db, actor=Actor("t"), kind="drainage", name="drain3", data=neg, file_name="d.inp", unit=unit,
            placement=place,
        )  # fmt: skip


def test_gas_import_with_customers_and_negative_length_refused(db, place) -> None:
    unit = org.find_unit(db, ref="util-gas")
    net = networks.import_network(
        db, actor=Actor("t"), kind="gas", name="gas", data=gas_json(), file_name="g.json", unit=unit,
        placement=place,
    )  # fmt: skip
    assert net.summary["counts"] == {"junction": 5, "pipe": 4, "customer": 3}
    assert net.summary["meta"]["supply"] == ["G0"]
    with pytest.raises(ValidationFailed, match=r"GP2.*length"):
        networks.import_network(
            db, actor=Actor("t"), kind="gas", name="gas2", data=gas_json(bad="negative"), file_name="g.json",
            unit=unit, placement=place,
        )  # fmt: skip
    with pytest.raises(ValidationFailed, match="pandapipes"):
        networks.import_network(
            db, actor=Actor("t"), kind="gas", name="gas3", data=b"{not json", file_name="g.json",
            unit=unit, placement=place,
        )  # fmt: skip


def test_resolve_network_returns_the_stored_model_file(db) -> None:
    net = import_water(db)
    path = networks.resolve_network("net1", session=db)
    assert path.suffix == ".inp" and path.read_bytes() == net.model_bytes
    with pytest.raises(Exception, match="nope"):
        networks.resolve_network("nope", session=db)


def test_crs_placement_transforms_real_coordinates(db) -> None:
    # Net1's drawing treated as metres in CGCS2000 / 3-degree GK CM 105E: lands near 105°E.
    net = networks.import_network(
        db, actor=Actor("t"), kind="water", name="gk", data=net_path("Net1").read_bytes(),
        file_name="Net1.inp", unit=org.find_unit(db, ref="util-water"),
        placement=Placement.from_options(crs="EPSG:4544", origin=None, scale=None),
    )  # fmt: skip
    assert not net.schematic and net.placement["crs"] == "EPSG:4544"
    assert abs(net.summary["bbox"][0] - 100) < 10
