"""Reading OpenStreetMap files: walking ways only, clipped extracts trimmed, XML and PBF alike."""

import numpy as np
import pytest
from shapely.geometry import box

from cityloop.livability import network as netmod
from tests.conftest import shared_path
from tests.livability.osm_fixtures import write_osm_pbf, write_osm_xml


def edges(net: netmod.Network) -> set[tuple[int, int]]:
    ids = net.osm_id
    return {tuple(sorted((int(ids[u]), int(ids[v])))) for u, v in zip(net.u, net.v, strict=True)}


def test_xml_keeps_walkable_ways_and_trims_missing_nodes(tmp_path) -> None:
    net = netmod.read_osm(write_osm_xml(tmp_path / "small.osm"))
    # residential 1-2-3-4 and footway 3-5-6; motorway, private service, cycleway and the
    # building outline are dropped; the path through the missing node 9 leaves no segment.
    assert edges(net) == {(1, 2), (2, 3), (3, 4), (3, 5), (5, 6)}
    assert set(net.osm_id.tolist()) == {1, 2, 3, 4, 5, 6}
    one_segment = net.length_m[0]
    assert 90 < one_segment < 110  # 0.001° of longitude at 29.5° N ≈ 96.9 m


def test_pbf_gives_the_same_network_as_xml(tmp_path) -> None:
    xml = netmod.read_osm(write_osm_xml(tmp_path / "a.osm"))
    pbf = netmod.read_osm(write_osm_pbf(tmp_path / "a.osm.pbf"))
    assert edges(xml) == edges(pbf)
    assert np.allclose(np.sort(xml.length_m), np.sort(pbf.length_m), atol=0.01)


def test_shared_planning_network_loads_with_its_road_classes(tmp_path) -> None:
    path = shared_path("data", "geo", "shapingba_roadnet", "roadnet_as_osm_R4.osm")
    net = netmod.read_osm(path)
    assert 4000 < net.node_count < 6000 and net.edge_count > 4000
    minx, miny, maxx, maxy = net.bbox()
    assert 106.3 < minx < maxx < 106.52 and 29.56 < miny < maxy < 29.64


@pytest.mark.parametrize(
    "name, content, key",
    [
        ("notes.osm", b'{"type": "FeatureCollection"}', "livability.network.not_osm"),
        ("broken.osm.pbf", b"this is not a protocol buffer at all", "livability.network.not_osm"),
        ("table.csv", b"a,b\n1,2\n", "livability.network.not_osm"),
        ("empty.osm", b'<?xml version="1.0"?><osm version="0.6"></osm>', "livability.network.empty"),
    ],
)
def test_files_that_give_no_network_say_why(tmp_path, name, content, key) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(netmod.NetworkError) as err:
        netmod.read_osm(path)
    assert err.value.key == key


def test_pack_round_trip_and_clip(tmp_path) -> None:
    net = netmod.read_osm(write_osm_xml(tmp_path / "small.osm"))
    back = netmod.unpack(netmod.pack(net))
    assert edges(back) == edges(net) and back.lon.dtype == np.float64
    west = netmod.clip(net, box(106.5075, 29.5075, 106.5095, 29.5085))
    assert edges(west) == {(1, 2)} and west.node_count == 2


def test_grid_network_is_clipped_and_connected() -> None:
    area = box(106.50, 29.50, 106.51, 29.51)
    grid = netmod.grid_network(area, 100, jitter=0.1, seed=1)
    assert 80 < grid.node_count < 130
    assert ((grid.lon >= 106.50) & (grid.lon <= 106.51)).all()
    assert grid.length_m.min() > 50 and grid.length_m.max() < 160
