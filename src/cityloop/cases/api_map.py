"""``GET /api/v1/cases/map``: the queue map's GeoJSON (points, or grid clusters when many; cases/map.py).

Included in the app *before* ``cases.api`` so that ``/cases/map`` is not read as a case id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from cityloop.cases import map as case_map
from cityloop.cases import queue
from cityloop.cases.api import ERRORS
from cityloop.cases.permissions import CASES_QUEUE
from cityloop.core.http import DB, CurrentPrincipal
from cityloop.core.validation import Int

router = APIRouter(prefix="/api/v1/cases", tags=["cases"], responses=ERRORS)


def _states(value: str | None) -> list[str]:
    raw = [v.strip() for v in (value or "").split(",") if v.strip()]
    return [] if raw == ["all"] else raw


@router.get("/map")
def cases_map(
    db: DB,
    principal: CurrentPrincipal,
    bbox: Annotated[str, Query(description="west,south,east,north in degrees (the map's bounds)")] = "",
    zoom: Annotated[Int, Query(description="the map's zoom: clusters are cells of zoom + 2")] = 13,
    state: Annotated[str | None, Query(description="comma list of states, open, closed or all")] = None,
    category: str | None = None,
    unit: Annotated[str | None, Query(description="responsible unit code")] = None,
    street: Annotated[str | None, Query(description="street/town code")] = None,
    source: str | None = None,
    overdue: bool | None = None,
    possible_duplicate: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, description="tracking number or words")] = None,
) -> dict[str, Any]:
    """Every case of the queue's filters inside ``bbox`` (staff, each in their scope; citizens: 403):
    a GeoJSON FeatureCollection of points (``kind: points``, at most 500) or of grid clusters
    (``kind: clusters``: ``count`` and the cell's ``bounds`` per feature); ``total`` counts them all."""
    principal.require(CASES_QUEUE)
    box = case_map.parse_bbox(bbox)
    f = queue.CaseFilter(
        states=_states(state),
        category=category or None,
        unit=unit or None,
        street=street or None,
        source=source or None,
        overdue=overdue,
        possible_duplicate=possible_duplicate,
        text=(q or "").strip() or None,
    )
    return case_map.features(db, principal=principal, filters=f, box=box, zoom=zoom)
