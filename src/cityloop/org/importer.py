"""Import real boundaries for existing units from GeoJSON (``cityloop org import-units``).

Accepts a GeoJSON FeatureCollection, a single Feature, or a DataV.GeoAtlas feature list; converts
GCJ-02/BD-09 to WGS84; matches each feature to a unit of the given kind by name (exact, or with the
kind's suffix such as 街道/镇 added or removed). Everything is checked before anything is written:
one bad feature and nothing changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core.errors import ValidationFailed
from cityloop.core.geo import Datum, GeometryError, parse_area, to_geojson, to_wgs84, transform_geometry
from cityloop.core.validation import strip_controls
from cityloop.org import service
from cityloop.org.models import AREA_KINDS, Unit, UnitKind

SUFFIXES = {
    UnitKind.street: ("街道", "街道办事处"),
    UnitKind.town: ("镇", "镇人民政府"),
    UnitKind.district: ("区",),
    UnitKind.community: ("社区", "村"),
}


@dataclass(frozen=True)
class ImportResult:
    updated: list[str]


def read_features(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed("import.file_unreadable", path=str(path), reason=str(exc)) from exc
    features: Any
    if isinstance(data, list):
        features = data
    elif isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features")
    elif isinstance(data, dict) and data.get("type") == "Feature":
        features = [data]
    else:
        raise ValidationFailed("import.not_geojson", path=str(path))
    if not isinstance(features, list) or not all(isinstance(f, dict) for f in features):
        raise ValidationFailed("import.not_geojson", path=str(path))
    if not features:
        raise ValidationFailed("import.no_features", path=str(path))
    return features


def _variants(name: str, kind: str) -> set[str]:
    out = {name}
    for suffix in SUFFIXES.get(UnitKind(kind), ()):
        if name.endswith(suffix):
            out.add(name[: -len(suffix)])
        else:
            out.add(name + suffix)
    return out


def import_units(
    session: Session,
    *,
    actor: Any,
    path: Path,
    kind: str,
    name_field: str,
    crs: str = "wgs84",
) -> ImportResult:
    if kind not in UnitKind.__members__ or UnitKind(kind) not in AREA_KINDS:
        raise ValidationFailed("error.geometry_not_allowed", kind=kind)
    datum = Datum(crs)
    features = read_features(path)
    units = session.execute(select(Unit).where(Unit.kind == kind)).scalars().all()
    by_name: dict[str, Unit] = {}
    for unit in units:
        for variant in _variants(unit.name, kind):
            by_name.setdefault(variant, unit)

    planned: list[tuple[Unit, dict[str, Any]]] = []
    unmatched: list[str] = []
    seen: set[int] = set()
    for index, feature in enumerate(features, start=1):
        props = feature.get("properties") or {}
        raw_name = props.get(name_field)
        if not isinstance(raw_name, str) or not raw_name.strip():
            raise ValidationFailed("import.missing_name", index=index, field=name_field)
        name = strip_controls(raw_name, multiline=False).strip()
        try:
            geom = parse_area(feature.get("geometry"))
            if datum is not Datum.wgs84:
                geom = transform_geometry(geom, lambda x, y: to_wgs84(x, y, datum))
            geometry = to_geojson(geom)
        except GeometryError as exc:
            raise ValidationFailed("import.bad_geometry", name=name, reason=str(exc)) from exc
        match = next((by_name[v] for v in _variants(name, kind) if v in by_name), None)
        if match is None:
            unmatched.append(name)
            continue
        if match.id in seen:
            raise ValidationFailed("import.duplicate_name", name=name)
        seen.add(match.id)
        planned.append((match, geometry))
    if unmatched:
        raise ValidationFailed("import.unmatched", kind=kind, names=", ".join(unmatched[:10]))

    for unit, geometry in planned:
        service.update_unit(session, actor=actor, unit=unit, geometry=geometry, geometry_schematic=False)
    return ImportResult(updated=[u.name for u, _ in planned])
