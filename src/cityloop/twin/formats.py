"""Read the three model formats into one shape: nodes and links with model coordinates and data.

Water: EPANET ``.inp`` through WNTR (SI units after reading: m, m³/s). Drainage: SWMM ``.inp``,
checked line by line here and then opened by the SWMM engine (pyswmm). Gas: a pandapipes JSON
network through ``pandapipes.from_json``. Engines are imported inside the functions: they take
seconds to import and most commands never need them.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityloop.twin.inpfile import (
    ModelProblem,
    check_epanet,
    check_swmm,
    coordinates,
    vertices,
)

XY = tuple[float, float]


@dataclass
class Item:
    ref: str
    type: str
    props: dict[str, Any]
    xy: XY | None = None  # nodes
    ends: tuple[str, str] | None = None  # links: (from node ref, to node ref)
    path: list[XY] = field(default_factory=list)  # links: vertices between the ends


@dataclass
class ParsedModel:
    kind: str
    file_format: str
    nodes: list[Item]
    links: list[Item]
    extra: list[Item] = field(default_factory=list)  # customers (gas sinks), subcatchments
    meta: dict[str, Any] = field(default_factory=dict)

    def node_xy(self) -> dict[str, XY | None]:
        return {n.ref: n.xy for n in self.nodes}


@contextmanager
def quiet() -> Iterator[None]:
    """Engines warn about their own deprecations; those are not the user's problem."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else round(out, 6)


# --- water (EPANET via WNTR) -------------------------------------------------------------------


def read_epanet(data: bytes) -> ParsedModel:
    text = _decode(data)
    sections = check_epanet(text)
    wn = load_wntr(data)
    coords = coordinates(sections)
    nodes: list[Item] = []
    for name, node in wn.nodes():
        props: dict[str, Any] = {"elevation_m": _num(getattr(node, "elevation", None))}
        if node.node_type == "Junction":
            base = sum(d.base_value for d in node.demand_timeseries_list)
            props["base_demand_lps"] = _num(base * 1000.0)
        elif node.node_type == "Tank":
            props.update(
                init_level_m=_num(node.init_level),
                min_level_m=_num(node.min_level),
                max_level_m=_num(node.max_level),
                diameter_m=_num(node.diameter),
            )
        elif node.node_type == "Reservoir":
            props["head_m"] = _num(node.base_head)
        nodes.append(Item(name, node.node_type.lower(), props, xy=coords.get(name)))
    verts = vertices(sections)
    links: list[Item] = []
    for name, link in wn.links():
        props = {}
        if link.link_type == "Pipe":
            props = {
                "length_m": _num(link.length),
                "diameter_m": _num(link.diameter),
                "roughness": _num(link.roughness),
                "status": str(link.initial_status).lower(),
            }
        elif link.link_type == "Valve":
            props = {"valve_type": link.valve_type, "diameter_m": _num(link.diameter)}
        links.append(
            Item(
                name,
                link.link_type.lower(),
                props,
                ends=(link.start_node_name, link.end_node_name),
                path=verts.get(name, []),
            )
        )
    meta = {
        "flow_units": wn.options.hydraulic.inpfile_units,
        "duration_s": int(wn.options.time.duration),
        "hydraulic_step_s": int(wn.options.time.hydraulic_timestep),
    }
    return ParsedModel("water", "epanet-inp", nodes, links, meta=meta)


def load_wntr(data: bytes) -> Any:
    """A WaterNetworkModel from file bytes; engine errors become a ModelProblem."""
    import wntr

    with tempfile.TemporaryDirectory(prefix="cityloop-inp-") as tmp:
        path = Path(tmp) / "model.inp"
        path.write_bytes(data)
        try:
            with quiet():
                return wntr.network.WaterNetworkModel(str(path))
        except Exception as exc:  # WNTR raises EpanetException, KeyError, ValueError …
            raise ModelProblem("twin.model.engine_refused", {"engine": "EPANET", "reason": str(exc)}) from exc


# --- drainage (SWMM) ---------------------------------------------------------------------------


def read_swmm(data: bytes) -> ParsedModel:
    text = _decode(data)
    sections = check_swmm(text)
    _swmm_opens(data)
    coords = coordinates(sections)
    nodes: list[Item] = []
    for section, typ in (
        ("JUNCTIONS", "junction"),
        ("OUTFALLS", "outfall"),
        ("STORAGE", "storage"),
        ("DIVIDERS", "divider"),
    ):
        for row in sections.get(section, []):
            props: dict[str, Any] = {"invert_m": _num(row.fields[1])}
            if section == "JUNCTIONS" and len(row.fields) > 2:
                props["max_depth_m"] = _num(row.fields[2])
            nodes.append(Item(row.fields[0], typ, props, xy=coords.get(row.fields[0])))
    xsections = {r.fields[0]: r.fields[1:] for r in sections.get("XSECTIONS", [])}
    verts = vertices(sections)
    links: list[Item] = []
    for section in ("CONDUITS", "PUMPS", "ORIFICES", "WEIRS", "OUTLETS"):
        for row in sections.get(section, []):
            props = {}
            if section == "CONDUITS":
                props = {"length_m": _num(row.fields[3]), "roughness": _num(row.fields[4])}
                xs = xsections.get(row.fields[0])
                if xs and len(xs) > 1:
                    props.update(shape=xs[0].lower(), height_m=_num(xs[1]))
            links.append(
                Item(
                    row.fields[0],
                    section.lower().rstrip("s") if section != "CONDUITS" else "conduit",
                    props,
                    ends=(row.fields[1], row.fields[2]),
                    path=verts.get(row.fields[0], []),
                )
            )
    extra = [
        Item(
            row.fields[0],
            "subcatchment",
            {"raingage": row.fields[1], "outlet": row.fields[2], "area_ha": _num(row.fields[3])},
            xy=coords.get(row.fields[2]),
        )
        for row in sections.get("SUBCATCHMENTS", [])
    ]
    options = {r.fields[0].upper(): r.fields[1] for r in sections.get("OPTIONS", []) if len(r.fields) > 1}
    meta = {
        "flow_units": options.get("FLOW_UNITS", "CFS"),
        "raingages": [r.fields[0] for r in sections.get("RAINGAGES", [])],
    }
    return ParsedModel("drainage", "swmm-inp", nodes, links, extra, meta)


def _swmm_opens(data: bytes) -> None:
    """Let the SWMM engine parse the file too: it knows every option our checks do not."""
    from pyswmm import Simulation

    with tempfile.TemporaryDirectory(prefix="cityloop-swmm-") as tmp:
        path = Path(tmp) / "model.inp"
        path.write_bytes(data)
        try:
            with Simulation(str(path)):
                pass
        except Exception as exc:
            report = Path(tmp) / "model.rpt"
            detail = _swmm_errors(report) or str(exc).strip()
            raise ModelProblem("twin.model.engine_refused", {"engine": "SWMM", "reason": detail}) from exc


def _swmm_errors(report: Path) -> str:
    if not report.exists():
        return ""
    lines = [ln.strip() for ln in report.read_text(errors="replace").splitlines() if "ERROR" in ln]
    return " ".join(lines[:3])


# --- gas (pandapipes) --------------------------------------------------------------------------


def load_pandapipes(data: bytes) -> Any:
    import pandapipes

    try:
        with quiet():
            return pandapipes.from_json_string(_decode(data))
    except Exception as exc:
        raise ModelProblem("twin.model.engine_refused", {"engine": "pandapipes", "reason": str(exc)}) from exc


def read_pandapipes(data: bytes) -> ParsedModel:
    net = load_pandapipes(data)
    if "junction" not in net or not len(net.junction):
        raise ModelProblem("twin.model.no_nodes", {"format": "pandapipes"})
    geo = net.junction_geodata if "junction_geodata" in net else None
    junction_ref = {int(i): _gas_ref(net.junction, i, "J") for i in net.junction.index}
    nodes = []
    for idx, row in net.junction.iterrows():
        xy = None
        if geo is not None and idx in geo.index:
            xy = (float(geo.at[idx, "x"]), float(geo.at[idx, "y"]))
        props = {"pn_bar": _num(row.get("pn_bar")), "height_m": _num(row.get("height_m")), "index": int(idx)}
        nodes.append(Item(junction_ref[int(idx)], "junction", props, xy=xy))
    links = []
    for idx, row in net.pipe.iterrows():
        ends = []
        for col in ("from_junction", "to_junction"):
            j = int(row[col])
            if j not in junction_ref:
                raise ModelProblem(
                    "twin.model.unknown_node",
                    {"line": "-", "section": "pipe", "element": _gas_ref(net.pipe, idx, "P"), "node": j},
                )
            ends.append(junction_ref[j])
        length_km = _num(row.get("length_km")) or 0.0
        diameter_mm = _num(row.get("inner_diameter_mm"))
        if diameter_mm is None and row.get("diameter_m") is not None:
            diameter_mm = (_num(row.get("diameter_m")) or 0.0) * 1000
        for what, value in (("length_km", length_km), ("inner_diameter_mm", diameter_mm or 0.0)):
            if value <= 0:
                raise ModelProblem(
                    "twin.model.not_positive",
                    {
                        "line": "-",
                        "section": "pipe",
                        "element": _gas_ref(net.pipe, idx, "P"),
                        "field": what,
                        "value": value,
                    },
                )
        props = {"length_m": round(length_km * 1000, 3), "diameter_mm": diameter_mm, "index": int(idx)}
        links.append(Item(_gas_ref(net.pipe, idx, "P"), "pipe", props, ends=(ends[0], ends[1])))
    extra = _gas_customers(net, junction_ref, nodes)
    supply = [junction_ref.get(int(j)) for j in net.ext_grid.junction] if "ext_grid" in net else []
    meta = {"fluid": getattr(net.fluid, "name", None) if "fluid" in net else None, "supply": supply}
    return ParsedModel("gas", "pandapipes-json", nodes, links, extra, meta)


def _gas_customers(net: Any, junction_ref: dict[int, str], nodes: list[Item]) -> list[Item]:
    xy_of = {n.ref: n.xy for n in nodes}
    out: list[Item] = []
    if "sink" not in net:
        return out
    for idx, row in net.sink.iterrows():
        j = int(row["junction"])
        if j not in junction_ref:
            raise ModelProblem(
                "twin.model.unknown_node",
                {"line": "-", "section": "sink", "element": _gas_ref(net.sink, idx, "S"), "node": j},
            )
        props = {
            "junction": junction_ref[j],
            "mdot_kg_per_s": _num(row.get("mdot_kg_per_s")),
            "index": int(idx),
        }
        out.append(Item(_gas_ref(net.sink, idx, "S"), "customer", props, xy=xy_of.get(junction_ref[j])))
    return out


def _gas_ref(table: Any, idx: Any, prefix: str) -> str:
    """The element's name when names are unique in its table, else prefix + row index."""
    names = table.get("name")
    if names is not None and names.notna().all() and names.is_unique:
        return str(names.at[idx])
    return f"{prefix}{int(idx)}"


# --- shared ------------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ModelProblem("twin.model.unreadable", {"reason": "unknown text encoding"})


READERS = {"water": read_epanet, "drainage": read_swmm, "gas": read_pandapipes}
FORMATS = {"water": "epanet-inp", "drainage": "swmm-inp", "gas": "pandapipes-json"}


def read_model(kind: str, data: bytes) -> ParsedModel:
    if kind not in READERS:
        raise ModelProblem("twin.model.kind_unknown", {"kind": kind})
    if not data.strip():
        raise ModelProblem("twin.model.unreadable", {"reason": "empty file"})
    return READERS[kind](data)
