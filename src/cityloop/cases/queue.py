"""The one queue: cases filtered, scoped and paged, fast on a million rows.

Filters combine with AND. Counting stops at ``COUNT_CAP`` (a queue page needs "over 1,000", not the
exact figure, and an exact count over a million rows costs more than the page itself). Filters on open
cases state ``OPEN`` literally, so both databases use the partial indexes kept for them (models.OPEN_SQL).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, false, func, or_, select, text
from sqlalchemy.orm import Session

from cityloop.cases.models import OPEN_SQL, Case, CaseStep, Category
from cityloop.cases.scope import read_clause
from cityloop.cases.states import CLOSED_STATES, OPEN_STATES, State
from cityloop.core.clock import now
from cityloop.core.errors import ValidationFailed
from cityloop.core.permissions import Principal
from cityloop.org.models import Unit

COUNT_CAP = 1_000
TRACKING_NO = re.compile(r"[A-Z]{1,10}-[0-9]{4}-[0-9]{6,}")
MAX_PAGE_SIZE = 200
OPEN = text(f"cases.{OPEN_SQL}")
CLOSED = sorted(s.value for s in CLOSED_STATES)
SORTS: dict[str, tuple[Any, ...]] = {
    "-reported_at": (Case.reported_at.desc(), Case.id.desc()),
    "reported_at": (Case.reported_at.asc(), Case.id.asc()),
    "due_at": (Case.due_at.asc(), Case.id.asc()),
    "-updated_at": (Case.updated_at.desc(), Case.id.desc()),
}


@dataclass
class CaseFilter:
    states: list[str] = field(default_factory=list)
    category: str | None = None  # code
    unit: str | None = None  # responsible unit code
    unit_subtree: bool = False  # with `unit`: also the units below it (a street's communities, grids)
    street: str | None = None  # street/town code (where the case is)
    source: str | None = None
    overdue: bool | None = None  # open and past the running step's due time
    possible_duplicate: bool | None = None
    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat
    text: str | None = None  # tracking number, or words in the description or address
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    sort: str = "-reported_at"


@dataclass
class Page:
    items: Sequence[Case]
    page: int
    page_size: int
    total: int
    total_exact: bool


def _unit_id(session: Session, code: str) -> int:
    found = session.execute(select(Unit.id).where(Unit.code == code)).scalar_one_or_none()
    return found if found is not None else -1  # an unknown unit matches nothing


def apply_filters(session: Session, stmt: Select[Any], f: CaseFilter) -> Select[Any]:
    if f.states:
        unknown = [s for s in f.states if s not in State._value2member_map_ and s not in ("open", "closed")]
        if unknown:
            raise ValidationFailed("cases.error.state_unknown", state=", ".join(unknown))
        wanted: set[str] = set()
        for s in f.states:
            if s == "open":
                wanted |= {x.value for x in OPEN_STATES}
            elif s == "closed":
                wanted |= {x.value for x in CLOSED_STATES}
            else:
                wanted.add(s)
        if wanted <= {x.value for x in OPEN_STATES}:
            stmt = stmt.where(OPEN)  # lets the planner use the partial indexes on open cases
        if wanted != {x.value for x in OPEN_STATES}:
            stmt = stmt.where(Case.state.in_(sorted(wanted)))
    if f.category:
        cat = session.execute(select(Category.id).where(Category.code == f.category)).scalar_one_or_none()
        stmt = stmt.where(Case.category_id == (cat if cat is not None else -1))
    if f.unit and f.unit_subtree:
        path = session.execute(select(Unit.path).where(Unit.code == f.unit)).scalar_one_or_none()
        below = select(Unit.id).where(Unit.path.startswith(path)) if path else select(Unit.id).where(false())
        stmt = stmt.where(Case.unit_id.in_(below))
    elif f.unit:
        stmt = stmt.where(Case.unit_id == _unit_id(session, f.unit))
    if f.street:
        stmt = stmt.where(Case.street_id == _unit_id(session, f.street))
    if f.source:
        stmt = stmt.where(Case.source == f.source)
    if f.overdue is True:
        stmt = stmt.where(OPEN, Case.due_at < now())
    elif f.overdue is False:
        stmt = stmt.where(or_(Case.due_at.is_(None), Case.due_at >= now(), Case.state.in_(CLOSED)))
    if f.possible_duplicate is not None:
        stmt = stmt.where(Case.possible_duplicate.is_(f.possible_duplicate))
    if f.bbox:
        minx, miny, maxx, maxy = f.bbox
        if not (minx <= maxx and miny <= maxy):
            raise ValidationFailed("cases.error.bbox_invalid")
        stmt = stmt.where(Case.lon.between(minx, maxx), Case.lat.between(miny, maxy))
    if f.text:
        text = f.text.strip()
        if TRACKING_NO.fullmatch(text):
            stmt = stmt.where(Case.tracking_no == text)  # a unique index: instant at any size
        else:
            # Words: a scan in reported_at order that stops at the page (fast when combined with other
            # filters or when the words are common; a full-text index is the next step at city scale).
            like = f"%{text}%"
            stmt = stmt.where(or_(Case.description.like(like), Case.address.like(like)))
    if f.reported_from:
        stmt = stmt.where(Case.reported_at >= f.reported_from)
    if f.reported_to:
        stmt = stmt.where(Case.reported_at < f.reported_to)
    return stmt


def list_cases(
    session: Session, *, principal: Principal, filters: CaseFilter, page: int = 1, page_size: int = 50
) -> Page:
    """One page of the cases ``principal`` may read, matching ``filters``."""
    if filters.sort not in SORTS:
        raise ValidationFailed("cases.error.sort_unknown", sort=filters.sort, allowed=", ".join(SORTS))
    page = max(1, page)
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    base = apply_filters(session, select(Case.id).where(read_clause(session, principal)), filters)
    ids = list(
        session.execute(
            base.order_by(*SORTS[filters.sort]).limit(page_size).offset((page - 1) * page_size)
        ).scalars()
    )
    items: list[Case] = []
    if ids:
        # Load the page's rows (with their category and units) in one query, kept in the page's order.
        rows = {c.id: c for c in session.execute(select(Case).where(Case.id.in_(ids))).unique().scalars()}
        items = [rows[i] for i in ids]
    capped = session.execute(
        select(func.count()).select_from(base.limit(COUNT_CAP + 1).subquery())
    ).scalar_one()
    return Page(items, page, page_size, min(capped, COUNT_CAP), capped <= COUNT_CAP)


def running_steps(session: Session, case_ids: Sequence[int]) -> dict[int, CaseStep]:
    """The running (not yet done) step of each case, in one query; a case's latest running step wins."""
    if not case_ids:
        return {}
    rows = session.execute(
        select(CaseStep)
        .where(CaseStep.case_id.in_(case_ids), CaseStep.done_at.is_(None))
        .order_by(CaseStep.id)
    ).scalars()
    return {step.case_id: step for step in rows}


def deadline_colour(state: str, due: datetime | None, step: CaseStep | None, at: datetime) -> str:
    """The deadline colour of the lists and the queue map: red overdue, amber once the running step's
    reminder time (80 % of the allowed time) has passed, green before; "none" when no clock runs."""
    if state not in OPEN_STATES or due is None:
        return "none"
    if due < at:
        return "red"
    return "amber" if step is not None and step.remind_at <= at else "green"
