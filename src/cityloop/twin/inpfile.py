"""Line-aware reading and checking of EPANET and SWMM ``.inp`` files.

Both formats are ``[SECTION]`` headers followed by whitespace-separated rows, ``;`` starting a
comment. The engines stop at the first bad row with a terse code (EPANET: "Error 200"); this
module finds the problems a user can fix (unknown node, negative length, duplicate id, bad number)
and names the line and the element, before an engine ever sees the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ModelProblem(Exception):
    """A defect in a model file: a message key of twin.json plus what fills it in."""

    def __init__(self, key: str, params: dict[str, Any] | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.params = params or {}

    def __str__(self) -> str:
        return f"{self.key}: {self.params}"


@dataclass(frozen=True)
class Row:
    line: int
    fields: list[str]


def read_sections(text: str) -> dict[str, list[Row]]:
    """Rows of every section, keyed by upper-case section name, each with its 1-based line number."""
    sections: dict[str, list[Row]] = {}
    current: list[Row] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            name = line.strip("[] \t").upper()
            current = sections.setdefault(name, [])
            continue
        if current is None:
            raise ModelProblem("twin.model.outside_section", {"line": number, "text": raw.strip()[:60]})
        current.append(Row(number, line.split()))
    return sections


def _number(row: Row, index: int, section: str, what: str) -> float:
    try:
        return float(row.fields[index])
    except (IndexError, ValueError):
        value = row.fields[index] if index < len(row.fields) else ""
        raise ModelProblem(
            "twin.model.bad_number",
            {"line": row.line, "section": section, "element": row.fields[0], "field": what, "value": value},
        ) from None


def _ids(sections: dict[str, list[Row]], names: tuple[str, ...]) -> dict[str, int]:
    """Declared ids of the given sections → line; a second declaration is an error."""
    seen: dict[str, int] = {}
    for section in names:
        for row in sections.get(section, []):
            ref = row.fields[0]
            if ref in seen:
                raise ModelProblem(
                    "twin.model.duplicate_id",
                    {"line": row.line, "section": section, "element": ref, "first": seen[ref]},
                )
            seen[ref] = row.line
    return seen


def _check_ends(row: Row, section: str, nodes: dict[str, int], columns: tuple[int, int]) -> None:
    if len(row.fields) <= max(columns):
        raise ModelProblem(
            "twin.model.too_few_fields", {"line": row.line, "section": section, "element": row.fields[0]}
        )
    for col in columns:
        node = row.fields[col]
        if node not in nodes:
            raise ModelProblem(
                "twin.model.unknown_node",
                {"line": row.line, "section": section, "element": row.fields[0], "node": node},
            )


def _positive(row: Row, index: int, section: str, what: str) -> float:
    value = _number(row, index, section, what)
    if value <= 0:
        raise ModelProblem(
            "twin.model.not_positive",
            {"line": row.line, "section": section, "element": row.fields[0], "field": what, "value": value},
        )
    return value


EPANET_NODES = ("JUNCTIONS", "RESERVOIRS", "TANKS")
EPANET_LINKS = ("PIPES", "PUMPS", "VALVES")


def check_epanet(text: str) -> dict[str, list[Row]]:
    """Check an EPANET file's topology and pipe data; returns its sections."""
    sections = read_sections(text)
    nodes = _ids(sections, EPANET_NODES)
    if not nodes:
        raise ModelProblem("twin.model.no_nodes", {"format": "EPANET"})
    _ids(sections, EPANET_LINKS)
    for row in sections.get("PIPES", []):
        _check_ends(row, "PIPES", nodes, (1, 2))
        _positive(row, 3, "PIPES", "length")
        _positive(row, 4, "PIPES", "diameter")
        _positive(row, 5, "PIPES", "roughness")
    for section in ("PUMPS", "VALVES"):
        for row in sections.get(section, []):
            _check_ends(row, section, nodes, (1, 2))
    for row in sections.get("TANKS", []):
        _number(row, 1, "TANKS", "elevation")
    for row in sections.get("COORDINATES", []):
        if row.fields[0] not in nodes:
            raise ModelProblem(
                "twin.model.unknown_node",
                {"line": row.line, "section": "COORDINATES", "element": row.fields[0], "node": row.fields[0]},
            )
        _number(row, 1, "COORDINATES", "x")
        _number(row, 2, "COORDINATES", "y")
    return sections


SWMM_NODES = ("JUNCTIONS", "OUTFALLS", "STORAGE", "DIVIDERS")
SWMM_LINKS = ("CONDUITS", "PUMPS", "ORIFICES", "WEIRS", "OUTLETS")


def check_swmm(text: str) -> dict[str, list[Row]]:
    """Check a SWMM file's topology and conduit data; returns its sections."""
    sections = read_sections(text)
    nodes = _ids(sections, SWMM_NODES)
    if not nodes:
        raise ModelProblem("twin.model.no_nodes", {"format": "SWMM"})
    links = _ids(sections, SWMM_LINKS)
    for section in SWMM_LINKS:
        for row in sections.get(section, []):
            _check_ends(row, section, nodes, (1, 2))
    for row in sections.get("CONDUITS", []):
        _positive(row, 3, "CONDUITS", "length")
        _positive(row, 4, "CONDUITS", "roughness")
    for row in sections.get("JUNCTIONS", []):
        _number(row, 1, "JUNCTIONS", "elevation")
    for row in sections.get("XSECTIONS", []):
        if row.fields[0] not in links:
            raise ModelProblem(
                "twin.model.unknown_link",
                {"line": row.line, "section": "XSECTIONS", "element": row.fields[0]},
            )
    subcatchments = {row.fields[0] for row in sections.get("SUBCATCHMENTS", [])}
    for row in sections.get("SUBCATCHMENTS", []):
        if len(row.fields) < 4:
            raise ModelProblem(
                "twin.model.too_few_fields",
                {"line": row.line, "section": "SUBCATCHMENTS", "element": row.fields[0]},
            )
        outlet = row.fields[2]
        if outlet not in nodes and outlet not in subcatchments:
            raise ModelProblem(
                "twin.model.unknown_node",
                {"line": row.line, "section": "SUBCATCHMENTS", "element": row.fields[0], "node": outlet},
            )
        _positive(row, 3, "SUBCATCHMENTS", "area")
    for row in sections.get("COORDINATES", []):
        if row.fields[0] not in nodes:
            raise ModelProblem(
                "twin.model.unknown_node",
                {"line": row.line, "section": "COORDINATES", "element": row.fields[0], "node": row.fields[0]},
            )
    return sections


def coordinates(sections: dict[str, list[Row]]) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for row in sections.get("COORDINATES", []):
        if len(row.fields) >= 3:
            out[row.fields[0]] = (float(row.fields[1]), float(row.fields[2]))
    return out


def vertices(sections: dict[str, list[Row]]) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for row in sections.get("VERTICES", []):
        if len(row.fields) >= 3:
            out.setdefault(row.fields[0], []).append((float(row.fields[1]), float(row.fields[2])))
    return out
