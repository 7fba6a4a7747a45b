"""Point files: GeoJSON (Point features; a polygon counts by its centroid) or CSV with lon/lat
columns. Coordinates in GCJ-02 or BD-09 are converted to WGS84 on reading.

Reading never stops at the first bad row: every problem is collected with its row number and
column so the user can fix the whole file at once.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import shape

from cityloop.core.errors import ValidationFailed
from cityloop.core.geo import Datum, to_wgs84
from cityloop.core.validation import strip_controls

LON_KEYS = ("lon", "lng", "longitude", "x", "经度")
LAT_KEYS = ("lat", "latitude", "y", "纬度")
MAX_ROWS = 200_000


@dataclass
class PointRow:
    row: int  # 1-based feature number, or the CSV line number (header = line 1)
    lon: float
    lat: float
    props: dict[str, Any]


@dataclass
class RowErrors:
    """Problems found in a file, each as {"row", "column", "problem"}."""

    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: int, column: str, problem: str) -> None:
        self.items.append({"row": row, "column": column, "problem": problem})

    def raise_if_any(self, key: str = "livability.import.rows_invalid") -> None:
        if self.items:
            first = self.items[0]
            raise ValidationFailed(
                key,
                details=self.items[:500],
                count=len(self.items),
                first=f"{first['row']}/{first['column']}: {first['problem']}",
            )


def read_points(data: bytes, *, filename: str, crs: str = "wgs84") -> list[PointRow]:
    """Rows of a .geojson/.json or .csv file (decided by the name, then by the content)."""
    try:
        datum = Datum(crs)
    except ValueError as exc:
        raise ValidationFailed("livability.import.bad_crs", crs=crs) from exc
    text = strip_controls(_decode(data, filename))
    name = filename.lower()
    looks_json = text.lstrip()[:1] in ("{", "[")
    if name.endswith((".geojson", ".json")) or (looks_json and not name.endswith(".csv")):
        rows = _geojson_rows(text, filename)
    else:
        rows = _csv_rows(text, filename)
    if not rows:
        raise ValidationFailed("livability.import.empty", path=filename)
    if len(rows) > MAX_ROWS:
        raise ValidationFailed("livability.import.too_many", path=filename, limit=MAX_ROWS)
    if datum is not Datum.wgs84:
        for r in rows:
            if math.isfinite(r.lon) and math.isfinite(r.lat):
                r.lon, r.lat = to_wgs84(r.lon, r.lat, datum)
    return rows


def _decode(data: bytes, filename: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed("livability.import.unreadable", path=filename, reason="not UTF-8 or GB18030 text")


def _geojson_rows(text: str, filename: str) -> list[PointRow]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed("livability.import.unreadable", path=filename, reason=exc.msg) from exc
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    elif isinstance(doc, list):
        features = doc
    else:
        raise ValidationFailed("livability.import.not_points", path=filename)
    if not isinstance(features, list):
        raise ValidationFailed("livability.import.not_points", path=filename)
    rows = []
    errors = RowErrors()
    for i, feat in enumerate(features, start=1):
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        props = (feat.get("properties") or {}) if isinstance(feat, dict) else {}
        try:
            point = shape(geom).centroid if geom else None
        except Exception:  # shapely raises several types for malformed coordinates
            point = None
        if point is None or point.is_empty:
            errors.add(i, "geometry", "no point geometry")
            continue
        rows.append(PointRow(i, float(point.x), float(point.y), dict(props)))
    errors.raise_if_any()
    return rows


def _csv_rows(text: str, filename: str) -> list[PointRow]:
    reader = csv.DictReader(io.StringIO(text))
    headers = [h.strip() for h in (reader.fieldnames or [])]
    lon_key = next((h for h in headers if h.lower() in LON_KEYS), None)
    lat_key = next((h for h in headers if h.lower() in LAT_KEYS), None)
    if lon_key is None or lat_key is None:
        raise ValidationFailed("livability.import.no_lonlat", path=filename, columns=", ".join(headers))
    rows = []
    errors = RowErrors()
    for line, raw in enumerate(reader, start=2):
        rec = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        lon, lat = _number(rec.get(lon_key)), _number(rec.get(lat_key))
        if lon is None:
            errors.add(line, lon_key, "not a number")
        if lat is None:
            errors.add(line, lat_key, "not a number")
        if lon is not None and lat is not None:
            rows.append(PointRow(line, lon, lat, rec))
    errors.raise_if_any()
    return rows


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def prop(props: dict[str, Any], *names: str) -> Any:
    """The first present, non-empty property among ``names``."""
    for name in names:
        value = props.get(name)
        if value not in (None, ""):
            return value
    return None
