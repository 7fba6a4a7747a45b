"""Where a case belongs and who handles it: point → grid cell → street/town → responsible unit.

The areas are an STRtree (``core.geo.AreaIndex``) built once per process and reused, and rebuilt when
the units change (``cases.cache``: at once in this process, within seconds in others).

Then the rules (category × area → unit, most specific first), then the category's default handler
(a department, the street/town itself, or that street/town's enforcement squadron). When nothing
applies the case goes to the dispatcher's manual queue — it is never dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.cases.cache import TableCache
from cityloop.cases.categories import Leaf
from cityloop.cases.models import Category, RoutingRule
from cityloop.config import get_settings
from cityloop.core.geo import AreaIndex, GeometryError, parse_area
from cityloop.org.models import Unit, UnitKind

STREET_KINDS = frozenset({UnitKind.street.value, UnitKind.town.value})
HANDLING_KINDS = frozenset(
    {
        UnitKind.department.value,
        UnitKind.street.value,
        UnitKind.town.value,
        UnitKind.community.value,
        UnitKind.enforcement_team.value,
        UnitKind.enforcement_squadron.value,
        UnitKind.utility.value,
    }
)


@dataclass(frozen=True)
class AreaRef:
    id: int
    code: str
    name: str
    kind: str
    path: str


@dataclass(frozen=True)
class Areas:
    """The district's areas with polygons, indexed once."""

    index: AreaIndex | None
    refs: dict[int, AreaRef]
    districts: tuple[int, ...]
    by_code: dict[str, AreaRef]  # every active unit, not only areas: routing targets
    by_id: dict[int, AreaRef]

    def locate(self, lon: float, lat: float) -> list[AreaRef]:
        if self.index is None:
            return []
        return [self.refs[i] for i in self.index.locate(lon, lat)]

    def inside_district(self, found: Sequence[AreaRef]) -> bool:
        """True when any of the district's areas contains the point (or no district has a polygon yet).

        Any area, not only the outline: shapes are stored rounded to 1e-7°, so a point in a border grid
        cell may miss the outline by a centimetre."""
        return not self.districts or bool(found)


def areas(session: Session) -> Areas:
    """The area index for this database: built once, rebuilt when the units change (see ``cache``)."""
    return _AREAS.get(session)


def _build(session: Session) -> Areas:
    units = session.execute(select(Unit).where(Unit.active.is_(True))).scalars().all()
    refs: dict[int, AreaRef] = {}
    items = []
    districts = []
    by_code = {}
    by_id = {}
    for u in units:
        ref = AreaRef(u.id, u.code, u.name, u.kind, u.path)
        by_code[u.code] = ref
        by_id[u.id] = ref
        if u.geometry is None:
            continue
        try:
            geom = parse_area(u.geometry)
        except GeometryError:
            continue
        refs[u.id] = ref
        items.append((u.id, geom))
        if u.kind == UnitKind.district:
            districts.append(u.id)
    return Areas(AreaIndex.build(items) if items else None, refs, tuple(districts), by_code, by_id)


_AREAS = TableCache(Unit, _build)


@dataclass(frozen=True)
class Located:
    grid: AreaRef | None
    street: AreaRef | None
    inside: bool
    chain: tuple[AreaRef, ...]  # every area containing the point, smallest first


def locate(session: Session, *, lon: float, lat: float) -> Located:
    a = areas(session)
    found = a.locate(lon, lat)
    grid = next((r for r in found if r.kind == UnitKind.grid), None)
    street = next((r for r in found if r.kind in STREET_KINDS), None) or _street_of(a, grid)
    return Located(grid, street, a.inside_district(found), tuple(found))


def _street_of(a: Areas, grid: AreaRef | None) -> AreaRef | None:
    """The street/town above a grid cell in the tree (rounding may put a point just outside its polygon)."""
    if grid is None:
        return None
    for unit_id in reversed(grid.path.strip("/").split("/")):
        ref = a.by_id.get(int(unit_id))
        if ref is not None and ref.kind in STREET_KINDS:
            return ref
    return None


def locate_many(session: Session, lons: np.ndarray, lats: np.ndarray) -> tuple[list[int | None], ...]:
    """Grid id, street id and inside-district flag for many points at once (bulk import)."""
    a = areas(session)
    n = len(lons)
    grid: list[int | None] = [None] * n
    street: list[int | None] = [None] * n
    inside: list[bool] = [not a.districts] * n
    if a.index is None or n == 0:
        return grid, street, inside  # type: ignore[return-value]
    pts = shapely.points(lons, lats)
    p_idx, g_idx = a.index.tree.query(pts, predicate="intersects")
    best_grid_area = np.full(n, np.inf)
    for p, g in zip(p_idx.tolist(), g_idx.tolist(), strict=True):
        ref = a.refs[a.index.keys[g]]
        if ref.kind == UnitKind.grid:
            area = a.index.geoms[g].area
            if area < best_grid_area[p]:
                best_grid_area[p] = area
                grid[p] = ref.id
        elif ref.kind in STREET_KINDS:
            street[p] = ref.id
        inside[p] = True
    for p in range(n):
        if street[p] is None and grid[p] is not None:
            found = _street_of(a, a.by_id.get(grid[p]))  # type: ignore[arg-type]
            street[p] = found.id if found else None
    return grid, street, inside  # type: ignore[return-value]


@dataclass(frozen=True)
class Route:
    unit: AreaRef | None  # None: the dispatcher's manual queue
    reason: str  # rule:<id> | default:department | default:street | default:enforcement | manual


@dataclass(frozen=True)
class _Rule:
    id: int
    category_id: int | None
    area_id: int | None
    unit_id: int
    priority: int


def all_rules(session: Session) -> list[_Rule]:
    """Every active rule (cached: the table is small and read on every report)."""
    return _RULES.get(session)


def _load_rules(session: Session) -> list[_Rule]:
    # Plain columns: the hot intake path needs no ORM objects (and no joined units) here.
    stmt = select(
        RoutingRule.id,
        RoutingRule.category_id,
        RoutingRule.area_id,
        RoutingRule.unit_id,
        RoutingRule.priority,
    ).where(RoutingRule.active.is_(True))
    return [_Rule(*row) for row in session.execute(stmt)]


_RULES = TableCache(RoutingRule, _load_rules)


def _rule_rank(rule: _Rule, depth: dict[int, int]) -> tuple[int, int, int, int]:
    # category match beats area match; a smaller (deeper) area beats a larger one; then priority.
    return (
        1 if rule.category_id is not None else 0,
        depth.get(rule.area_id, -1) if rule.area_id is not None else -1,
        rule.priority,
        -rule.id,
    )


def pick(
    a: Areas, rules: list[_Rule], *, category: Category | Leaf, chain: tuple[int, ...], street: AreaRef | None
) -> Route:
    """The routing decision itself, on data already loaded (shared by intake and bulk import).

    ``chain`` holds the ids of every area containing the point, smallest first.
    """
    depth = {area_id: len(chain) - i for i, area_id in enumerate(chain)}
    candidates = [
        r
        for r in rules
        if (r.category_id is None or r.category_id == category.id)
        and (r.area_id is None or r.area_id in depth)
    ]
    if candidates:
        best = max(candidates, key=lambda r: _rule_rank(r, depth))
        target = a.by_id.get(best.unit_id)
        if target is not None:
            return Route(target, f"rule:{best.id}")
    if category.handler == "department" and category.handler_unit:
        target = a.by_code.get(category.handler_unit)
        if target is not None:
            return Route(target, "default:department")
    if category.handler == "street" and street is not None:
        return Route(street, "default:street")
    if category.handler == "enforcement" and street is not None:
        code = get_settings().case_squadron_code.format(street=street.code)
        target = a.by_code.get(code)
        if target is not None:
            return Route(target, "default:enforcement")
    return Route(None, "manual")


def route(session: Session, *, category: Category | Leaf, located: Located | None) -> Route:
    """The unit that should handle a case of ``category`` at ``located`` (None: no location)."""
    chain = tuple(ref.id for ref in located.chain) if located else ()
    return pick(
        areas(session),
        all_rules(session),
        category=category,
        chain=chain,
        street=located.street if located else None,
    )


def chain_of(a: Areas, grid_id: int | None, street_id: int | None) -> tuple[int, ...]:
    """Ancestor areas of a grid cell from its materialised path, smallest first (no geometry needed)."""
    if grid_id is not None and grid_id in a.by_id:
        ids = [int(x) for x in a.by_id[grid_id].path.strip("/").split("/")]
        return tuple(reversed(ids))
    return (street_id,) if street_id is not None else ()
