"""The lists of the case loop: the dispatcher's queue (filters + map), a unit's inbox coloured by
deadline, and the supervisor's overdue list with escalations.

All three read through ``queue.list_cases`` (scoped, indexed, paged; counts capped), so a page costs
the same with a thousand cases or a million. Deadline colours come from the running step of the
page's cases only: green, amber once ``remind_at`` (80 % of the allowed time) has passed, red overdue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.cases import categories, queue, routing, service
from cityloop.cases.models import Case, CaseStep
from cityloop.cases.permissions import CASES_DISPATCH, CASES_QUEUE, CASES_SUPERVISE
from cityloop.cases.scope import read_clause
from cityloop.cases.states import OPEN_STATES, WITH_UNIT, State
from cityloop.core.clock import now
from cityloop.core.errors import AppError, Forbidden
from cityloop.core.http import DB, request_locale
from cityloop.core.permissions import Principal
from cityloop.core.validation import Page
from cityloop.web.pages import PageUser, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
# Tabs of a unit's inbox: what the unit must do, what waits for verification, parked, finished.
INBOX_TABS: dict[str, list[str]] = {
    "todo": sorted(s.value for s in WITH_UNIT),
    "feedback": [State.feedback.value, State.verified.value],
    "parked": [State.parked.value],
    "closed": [State.closed.value],
}
DUPLICATE_STATES = frozenset({State.reported.value, State.registered.value, State.returned.value})


@dataclass(frozen=True)
class Clock:
    colour: str  # green | amber | red | none (no clock runs)
    level: str  # "" | reminded | overdue | escalated: how far the worker's notices went
    late_minutes: int  # > 0 when overdue


def clocks(db: Session, cases: Sequence[Case]) -> dict[int, Clock]:
    """The deadline state of each case's running step (one query for the page)."""
    steps = queue.running_steps(db, [c.id for c in cases if c.state in OPEN_STATES])
    at = now()
    out = {}
    for c in cases:
        step = steps.get(c.id)
        due = c.due_at or (step.due_at if step else None)
        colour = queue.deadline_colour(c.state, due, step, at)
        if colour == "none" or due is None:
            out[c.id] = Clock("none", "", 0)
            continue
        late = int((at - due).total_seconds() // 60)
        out[c.id] = Clock(colour, _level(step) if step is not None else "", max(late, 0))
    return out


def _level(step: CaseStep) -> str:
    if step.escalated_at:
        return "escalated"
    if step.overdue_at:
        return "overdue"
    return "reminded" if step.reminded_at else ""


def colours(db: Session, cases: Sequence[Case]) -> dict[int, str]:
    return {k: v.colour for k, v in clocks(db, cases).items()}


def _late(minutes: int, locale: str) -> str:
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if locale == "en":
        return (f"{days} d " if days else "") + (f"{hours} h " if hours or days else "") + f"{mins} min"
    return (f"{days}天" if days else "") + (f"{hours}小时" if hours or days else "") + f"{mins}分"


def _streets(a: routing.Areas) -> list[routing.AreaRef]:
    return sorted((r for r in a.by_id.values() if r.kind in routing.STREET_KINDS), key=lambda r: r.code)


def _markers(items: Sequence[Case], clock: dict[int, Clock]) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "no": c.tracking_no,
            "lon": c.lon,
            "lat": c.lat,
            "colour": clock[c.id].colour if c.id in clock else "none",
            "label": f"{c.tracking_no} {c.category.name}",
        }
        for c in items
        if c.lon is not None and c.lat is not None
    ]


def _page_links(request: Request, page: int, more: bool) -> dict[str, str | None]:
    params = dict(request.query_params)

    def to(n: int) -> str:
        return f"{request.url.path}?{urlencode({**params, 'page': n})}"

    return {"prev": to(page - 1) if page > 1 else None, "next": to(page + 1) if more else None}


def _list_page(
    request: Request,
    db: Session,
    me: Principal,
    template: str,
    filters: queue.CaseFilter,
    page: int,
    *,
    with_duplicates: bool = False,
    **context: Any,
) -> HTMLResponse:
    """Run the queue query; a bad filter shows its message above an empty list (422)."""
    error, status = None, 200
    try:
        result = queue.list_cases(db, principal=me, filters=filters, page=page, page_size=PAGE_SIZE)
        items, total, exact = list(result.items), result.total, result.total_exact
    except AppError as exc:
        error, status = exc.message(request_locale(request)), exc.status_code
        items, total, exact = [], 0, True
    clock = clocks(db, items)
    a = routing.areas(db)
    more = len(items) == PAGE_SIZE and (page * PAGE_SIZE < total or not exact)
    return render(
        request,
        template,
        status_code=status,
        items=items,
        total=total,
        total_exact=exact,
        page=page,
        links=_page_links(request, page, more),
        clock=clock,
        late=lambda m: _late(m, request_locale(request)),
        unit_name=lambda uid: a.by_id[uid].name if uid is not None and uid in a.by_id else "",
        unit_code=lambda uid: a.by_id[uid].code if uid is not None and uid in a.by_id else "",
        markers=_markers(items, clock),
        dups=duplicate_counts(db, items) if with_duplicates else {},
        error=error,
        here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        **context,
    )


@router.get("/cases/queue", response_class=HTMLResponse)
def case_queue(
    request: Request,
    me: PageUser,
    db: DB,
    state: str = "open",
    category: str = "",
    source: str = "",
    street: str = "",
    overdue: str = "",
    duplicate: str = "",
    q: str = "",
    sort: str = "-reported_at",
    page: Page = 1,
) -> HTMLResponse:
    """The one queue (指挥中心): every channel, filtered; staff other than the dispatcher see their scope."""
    me.require(CASES_QUEUE)
    page = max(1, page)
    wanted = [] if state in ("", "all") else [s for s in state.split(",") if s]
    f = queue.CaseFilter(
        states=wanted,
        category=category or None,
        source=source or None,
        street=street or None,
        overdue=True if overdue == "1" else None,
        possible_duplicate=True if duplicate == "1" else None,
        text=q.strip()[:200] or None,
        sort=sort,
    )
    a = routing.areas(db)
    response = _list_page(
        request,
        db,
        me,
        "cases/queue.html",
        f,
        page,
        with_duplicates=me.can(CASES_DISPATCH),
        f={
            "state": state,
            "category": category,
            "source": source,
            "street": street,
            "overdue": overdue,
            "duplicate": duplicate,
            "q": q,
            "sort": sort,
        },
        states=[s.value for s in State],
        cats=categories.list_categories(db),
        sources=service.SOURCES,
        streets=_streets(a),
        sorts=list(queue.SORTS),
    )
    return response


def duplicate_counts(db: Session, items: Sequence[Case]) -> dict[int, int]:
    """How many open duplicates each flagged case of the page has (only flagged, undecided ones)."""
    out = {}
    for c in items:
        if c.possible_duplicate and c.state in DUPLICATE_STATES and c.parent_id is None:
            out[c.id] = len(service.find_duplicates(db, case=c))
    return out


@router.get("/cases/inbox", response_class=HTMLResponse)
def inbox(request: Request, me: PageUser, db: DB, tab: str = "todo", page: Page = 1) -> HTMLResponse:
    """A unit's cases (department, street/town, squadron, utility), soonest deadline first."""
    me.require(CASES_QUEUE)
    if me.role.value not in {"department", "street", "enforcement", "operator"}:
        raise Forbidden("cases.web.error.inbox_role")
    tab = tab if tab in INBOX_TABS else "todo"
    a = routing.areas(db)
    own = a.by_id.get(me.unit_id)
    f = queue.CaseFilter(
        states=INBOX_TABS[tab],
        unit=own.code if own else "-",
        unit_subtree=True,  # a street's inbox also holds what was dispatched to its communities and grids
        sort="due_at" if tab == "todo" else "-updated_at",
    )
    return _list_page(request, db, me, "cases/inbox.html", f, max(1, page), tab=tab, tabs=list(INBOX_TABS))


@dataclass(frozen=True)
class Escalation:
    case: Case
    step: CaseStep


def open_escalations(db: Session, me: Principal, limit: int = 50) -> list[Escalation]:
    """Steps still running after the worker escalated them (督办), most recent first, in scope."""
    rows = db.execute(
        select(CaseStep, Case)
        .join(Case, Case.id == CaseStep.case_id)
        .where(CaseStep.done_at.is_(None), CaseStep.escalated_at.is_not(None), read_clause(db, me))
        .order_by(CaseStep.escalate_at.desc(), CaseStep.id.desc())
        .limit(limit)
    ).unique()
    return [Escalation(case, step) for step, case in rows]


@router.get("/cases/overdue", response_class=HTMLResponse)
def overdue(
    request: Request, me: PageUser, db: DB, street: str = "", unit: str = "", q: str = "", page: Page = 1
) -> HTMLResponse:
    """Supervision (督办): open cases past their running step's deadline, longest late first."""
    me.require(CASES_SUPERVISE)
    f = queue.CaseFilter(
        states=["open"],
        overdue=True,
        street=street or None,
        unit=unit or None,
        text=q.strip()[:200] or None,
        sort="due_at",
    )
    at: datetime = now()
    escalations = open_escalations(db, me)
    return _list_page(
        request,
        db,
        me,
        "cases/overdue.html",
        f,
        max(1, page),
        escalations=escalations,
        f={"street": street, "unit": unit, "q": q},
        streets=_streets(routing.areas(db)),
        esc_late={e.step.id: max(0, int((at - e.step.due_at).total_seconds() // 60)) for e in escalations},
    )
