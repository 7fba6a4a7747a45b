"""Shared helpers for the case tests: places in the demo district and short API calls."""

from __future__ import annotations

from typing import Any

from shapely.geometry import shape
from sqlalchemy import func, select

from cityloop.cases.models import Case, CaseEvent
from cityloop.org.models import Unit

YJP = "500107001000"  # 杨家坪街道: the demo `street`, `inspector` (grid C1-G1) and `enforcement` accounts
HJP = "500107002000"  # 黄桷坪街道: the demo `street2` account
OUTSIDE = (106.10, 29.90)  # north-west of the district, still in Chongqing


def point_in(db: Any, unit_code: str, shift: float = 0.0) -> tuple[float, float]:
    """A point inside the unit's polygon (its representative point, nudged east by ``shift`` degrees)."""
    unit = db.execute(select(Unit).where(Unit.code == unit_code)).scalar_one()
    poly = shape(unit.geometry)
    p = poly.representative_point()
    lon, lat = p.x + shift, p.y
    assert poly.contains(type(p)(lon, lat)), "shift leaves the polygon"
    return round(lon, 7), round(lat, 7)


def report(client: Any, headers: dict[str, str], db: Any, *, grid: str = f"{YJP}-C1-G1", **body: Any) -> Any:
    """POST /cases with sensible defaults; returns the response."""
    lon, lat = point_in(db, grid, body.pop("shift", 0.0))
    payload = {"category": "SJ0102", "description": "路边堆放生活垃圾", "lon": lon, "lat": lat, **body}
    return client.post("/api/v1/cases", headers=headers, json=payload)


def act(client: Any, headers: dict[str, str], case: dict[str, Any], action: str, **body: Any) -> Any:
    body.setdefault("version", case["version"])
    return client.post(f"/api/v1/cases/{case['id']}/actions/{action}", headers=headers, json=body)


def counts(db: Any) -> tuple[int, int]:
    return (
        db.scalar(select(func.count()).select_from(Case)),
        db.scalar(select(func.count()).select_from(CaseEvent)),
    )
