import pytest

from cityloop.core import geo


def test_gcj02_round_trip_is_within_a_centimetre() -> None:
    lon, lat = 106.5123, 29.5071
    back = geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(lon, lat))
    assert back == pytest.approx((lon, lat), abs=1e-7)


def test_gcj02_offset_in_chongqing_is_a_few_hundred_metres() -> None:
    glon, glat = geo.wgs84_to_gcj02(106.5, 29.5)
    # The datum shift in Chongqing is about 0.004° east / 0.003° south — hundreds of metres.
    assert 0.002 < glon - 106.5 < 0.006
    assert -0.005 < glat - 29.5 < 0.0


def test_bd09_to_wgs84_matches_a_published_bus_stop_conversion() -> None:
    # Values from ../shared/data/geo/bus_stations_jiulongpo_wgs84.geojson (科城路口站), checked inline.
    lon, lat = geo.to_wgs84(106.464287, 29.510685, "bd09")
    assert (lon, lat) == pytest.approx((106.45388383145921, 29.50710590902803), abs=2e-6)


def test_parse_area_refuses_points_and_garbage() -> None:
    with pytest.raises(geo.GeometryError, match="not a Polygon"):
        geo.parse_area({"type": "Point", "coordinates": [106.5, 29.5]})
    with pytest.raises(geo.GeometryError):
        geo.parse_area({"type": "Polygon", "coordinates": "nope"})
    with pytest.raises(geo.GeometryError, match="longitude"):
        geo.parse_area({"type": "Polygon", "coordinates": [[[0, 0], [500, 0], [500, 1], [0, 0]]]})


def test_parse_area_repairs_a_self_intersecting_ring() -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    assert geo.parse_area(bowtie).is_valid


def test_area_index_returns_smallest_containing_area_first() -> None:
    from shapely.geometry import box

    idx = geo.AreaIndex.build([("big", box(0, 0, 10, 10)), ("small", box(1, 1, 2, 2))])
    assert idx.locate(1.5, 1.5) == ["small", "big"]
    assert idx.locate(5, 5) == ["big"]
    assert idx.locate(50, 50) == []
