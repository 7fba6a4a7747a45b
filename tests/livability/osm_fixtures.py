"""Small OpenStreetMap files written by the tests: XML by hand, PBF through pyosmium's writer."""

from __future__ import annotations

from pathlib import Path

# Around 杨家坪 (inside the demo district). Node 9 is referenced but absent, as in a clipped extract.
NODES = {
    1: (106.5080, 29.5080),
    2: (106.5090, 29.5080),
    3: (106.5100, 29.5080),
    4: (106.5110, 29.5080),
    5: (106.5100, 29.5090),
    6: (106.5100, 29.5100),
    7: (106.5120, 29.5080),
    8: (106.5130, 29.5080),
}
WAYS = [
    (101, [1, 2, 3, 4], {"highway": "residential", "name": "主街"}),
    (102, [3, 5, 6], {"highway": "footway"}),
    (103, [4, 7], {"highway": "motorway"}),  # no pedestrians
    (104, [7, 8], {"highway": "service", "access": "private"}),  # private
    (105, [6, 9, 2], {"highway": "path"}),  # node 9 cut away: only nothing usable remains
    (106, [2, 5], {"highway": "cycleway"}),  # cycleway: left out like osmnx's walk filter
    (107, [1, 2], {"building": "yes"}),  # not a highway
]


def write_osm_xml(path: Path, nodes: dict[int, tuple[float, float]] = NODES, ways=WAYS) -> Path:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for nid, (lon, lat) in nodes.items():
        lines.append(f'<node id="{nid}" version="1" lat="{lat}" lon="{lon}"/>')
    for wid, refs, tags in ways:
        lines.append(f'<way id="{wid}" version="1">')
        lines += [f'<nd ref="{r}"/>' for r in refs]
        lines += [f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("</way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_osm_pbf(path: Path, nodes: dict[int, tuple[float, float]] = NODES, ways=WAYS) -> Path:
    import osmium

    writer = osmium.SimpleWriter(str(path))
    try:
        for nid, (lon, lat) in nodes.items():
            writer.add_node(osmium.osm.mutable.Node(id=nid, location=(lon, lat), version=1))
        for wid, refs, tags in ways:
            writer.add_way(osmium.osm.mutable.Way(id=wid, nodes=refs, tags=tags, version=1))
    finally:
        writer.close()
    return path
