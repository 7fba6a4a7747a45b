"""Case intelligence over the database: suggestions, hotspots among cases, demand → action proposals,
and the before/after count of reports at a task's place.

Keyword-only functions taking a session; they flush, never commit, and audit what people change
(deciding a proposal, activating a model). The hotspot table is derived data, rebuilt by the worker.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import h3
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cityloop.cases import routing
from cityloop.cases.models import Case, Category
from cityloop.cases.scope import can_see
from cityloop.config import get_settings
from cityloop.core import audit
from cityloop.core.clock import display_zone, now, to_display
from cityloop.core.errors import Conflict, NotFound, ValidationFailed
from cityloop.core.permissions import Principal
from cityloop.insight import gazetteer
from cityloop.insight import permissions as perm
from cityloop.insight.hotspots import Report, find_hotspots
from cityloop.insight.models import CaseInsight, InsightHotspot, InsightProposal
from cityloop.insight.places import normalise
from cityloop.org.models import Person, Unit
from cityloop.programme import service as programme
from cityloop.programme.models import Acceptance, Action, Task
from cityloop.programme.plans import MilestoneInput, TaskInput

Actor = Principal | audit.Actor | None
ACTION_MAP = Path(__file__).resolve().parent / "defaults" / "action_map.csv"
PROPOSE_MIN_REPORTS = 3
NEAR_TASK_M = 300.0  # reports this close to a task's place count as "at that place"
MAX_WEEKS = 52
AREA_H3_RES = 7  # hexagons of ~1.2 km edge: located cases group only inside one
_EARTH_M = 6_371_008.8


# --- suggestions ------------------------------------------------------------------------------------


def suggestion_for(
    session: Session, *, principal: Principal, case_id: int
) -> tuple[Case, CaseInsight | None]:
    principal.require(perm.SUGGESTIONS)
    case = session.get(Case, case_id)
    if case is None or not can_see(principal, case, routing.areas(session)):
        raise NotFound("cases.error.case_not_found", ref=case_id)
    row = session.execute(select(CaseInsight).where(CaseInsight.case_id == case_id)).scalar_one_or_none()
    return case, row


def case_suggestion(session: Session, *, case_id: int) -> CaseInsight | None:
    """The stored suggestion of a case the caller already may see (the case page)."""
    return session.execute(select(CaseInsight).where(CaseInsight.case_id == case_id)).scalar_one_or_none()


def triage_queue(
    session: Session, *, principal: Principal, limit: int = 100
) -> list[tuple[Case, CaseInsight]]:
    """Open cases whose suggestion was not confident enough: they wait for a person to categorise."""
    principal.require(perm.TRIAGE)
    stmt = (
        select(Case, CaseInsight)
        .join(CaseInsight, CaseInsight.case_id == Case.id)
        .where(CaseInsight.triage == "manual", Case.state == "reported")
        .order_by(Case.reported_at.desc())
        .limit(max(1, min(limit, 500)))
    )
    return [(c, i) for c, i in session.execute(stmt).unique().all()]


# --- the action map (data) --------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionRule:
    action_code: str
    patterns: tuple[str, ...]


@lru_cache(maxsize=4)
def action_rules(path: Path = ACTION_MAP) -> tuple[ActionRule, ...]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return tuple(
        ActionRule(
            r["action_code"].strip(), tuple(p.strip() for p in r["category_match"].split("|") if p.strip())
        )
        for r in rows
        if r.get("action_code", "").strip()
    )


def action_code_for(category: Category) -> str | None:
    text = f"{category.name} {category.major_name}"
    for rule in action_rules():
        if any(p in text for p in rule.patterns):
            return rule.action_code
    return None


def categories_for_action(session: Session, *, action_code: str) -> list[int]:
    cats = session.execute(select(Category)).scalars().all()
    return [c.id for c in cats if action_code_for(c) == action_code]


# --- hotspots among cases -----------------------------------------------------------------------------


def refresh_hotspots(session: Session, *, at: datetime | None = None, days: int | None = None) -> int:
    """Rebuild the hotspot table from the last ``days`` of cases; then propose tasks. Returns the count."""
    at = at or now()
    since = at - timedelta(days=days or get_settings().insight_hotspot_days)
    rows = session.execute(
        select(
            Case.id,
            Case.description,
            Case.address,
            Case.reported_at,
            Case.supporters_count,
            Case.category_id,
            Case.lon,
            Case.lat,
            Case.street_id,
        ).where(Case.reported_at >= since, Case.parent_id.is_(None), Case.state != "voided")
    ).all()
    by_id = {str(r.id): r for r in rows}
    gaz = gazetteer.load(session)
    # Located cases group only with cases of the same category in the same H3 area (~1.2 km): the text
    # alone cannot tell two streets' identical "路边堆放生活垃圾" apart. Unlocated cases rely on names.
    reports = [
        Report(
            id=str(r.id),
            title=r.description or "",
            body=r.address or "",
            time=r.reported_at,
            support=r.supporters_count or 0,
            category=f"{r.category_id}:{_area(r.lon, r.lat)}",
        )
        for r in rows
        if (r.description or r.address)
    ]
    spots = find_hotspots(reports, now=at, known_places=gaz.names, zone=display_zone()) if reports else []
    session.execute(delete(InsightHotspot))
    stored: list[InsightHotspot] = []
    for h in spots:
        members = [by_id[m] for m in h.members]
        place = _place_name(h.places or [h.place], members, gaz)
        lon, lat, located_by = _locate(members, place, gaz)
        streets = Counter(m.street_id for m in members if m.street_id)
        street_id = streets.most_common(1)[0][0] if streets else None
        if street_id is None and lon is not None and lat is not None:
            found = routing.locate(session, lon=lon, lat=lat).street
            street_id = found.id if found else None
        row = InsightHotspot(
            key=h.hotspot_id,
            rank=h.rank,
            heat=h.heat,
            place=place[:200],
            lon=lon,
            lat=lat,
            located_by=located_by,
            category_id=members[0].category_id,
            street_id=street_id,
            summary=h.summary,
            reports=h.reports,
            days=h.days,
            support=h.support,
            start=h.start,
            end=h.end,
            members=[int(m) for m in h.members],
            refreshed_at=at,
        )
        session.add(row)
        stored.append(row)
    session.flush()
    propose_from(session, hotspots=stored)
    return len(stored)


def _area(lon: float | None, lat: float | None) -> str:
    return "" if lon is None or lat is None else str(h3.latlng_to_cell(lat, lon, AREA_H3_RES))


def _place_name(names: Sequence[str], members: Sequence[Any], gaz: gazetteer.Gazetteer) -> str:
    """A name the gazetteer knows, else the members' commonest address, else the extracted name."""
    for name in names:
        if name and gaz.find(name) is not None:
            return name
    addresses = Counter((m.address or "").strip() for m in members if (m.address or "").strip())
    if addresses:
        return addresses.most_common(1)[0][0]
    return next((n for n in names if n), "")


def _locate(members: Sequence[Any], place: str, gaz: gazetteer.Gazetteer) -> tuple[Any, Any, Any]:
    """The members' mean point when they have coordinates, else the gazetteer's point for the place."""
    points = [(m.lon, m.lat) for m in members if m.lon is not None and m.lat is not None]
    if points:
        return (
            round(sum(p[0] for p in points) / len(points), 7),
            round(sum(p[1] for p in points) / len(points), 7),
            "cases",
        )
    found = gaz.find(place) if place else None
    if found is not None:
        return found.lon, found.lat, found.kind
    return None, None, None


def list_hotspots(session: Session, *, principal: Principal, limit: int = 100) -> list[InsightHotspot]:
    principal.require(perm.HOTSPOTS)
    stmt = select(InsightHotspot).order_by(InsightHotspot.rank).limit(max(1, min(limit, 1000)))
    if not perm.district_wide(principal):
        visible = select(Unit.id).where(Unit.path.startswith(principal.scope_path))
        stmt = stmt.where(InsightHotspot.street_id.in_(visible))
    return list(session.execute(stmt).scalars())


# --- demand → action ----------------------------------------------------------------------------------


def _place_key(h: InsightHotspot) -> str | None:
    if h.place:
        return normalise(h.place)[:200]
    if h.lon is not None and h.lat is not None:
        return f"@{h.lon:.3f},{h.lat:.3f}"
    return None


def propose_from(session: Session, *, hotspots: Sequence[InsightHotspot]) -> int:
    """One proposal per (action, place) for hotspots whose category maps to an action. A proposal still
    waiting is updated with the latest figures; a decided one is left alone (never proposed again)."""
    try:
        prog = programme.get_programme(session)
    except NotFound:
        return 0
    actions = {a.code: a for a in programme.list_actions(session, programme=prog)}
    cats = {c.id: c for c in session.execute(select(Category)).scalars()}
    made = 0
    for h in hotspots:
        cat = cats.get(h.category_id) if h.category_id else None
        code = action_code_for(cat) if cat else None
        action = actions.get(code) if code else None
        key = _place_key(h)
        if action is None or key is None or h.reports < PROPOSE_MIN_REPORTS:
            continue
        existing = session.execute(
            select(InsightProposal).where(
                InsightProposal.action_id == action.id, InsightProposal.place_key == key
            )
        ).scalar_one_or_none()
        if existing is not None:
            if existing.state == "proposed":
                existing.heat, existing.reports, existing.summary = h.heat, h.reports, h.summary
                existing.hotspot_key, existing.lon, existing.lat = h.key, h.lon, h.lat
                existing.category_ids = sorted(
                    {*existing.category_ids, *([h.category_id] if h.category_id else [])}
                )
            continue
        row = InsightProposal(
            action_id=action.id,
            place_key=key,
            place=h.place or key,
            lon=h.lon,
            lat=h.lat,
            street_id=h.street_id,
            category_ids=[h.category_id],
            hotspot_key=h.key,
            heat=h.heat,
            reports=h.reports,
            summary=h.summary,
            state="proposed",
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=audit.Actor("insight.hotspots"),
            action="insight.proposal.create",
            entity_type="insight_proposal",
            entity_id=row.id,
            after=audit.snapshot(row),
        )
        made += 1
    session.flush()
    return made


def list_proposals(
    session: Session, *, principal: Principal, state: str | None = None
) -> list[InsightProposal]:
    principal.require(perm.PROPOSALS)
    stmt = select(InsightProposal).order_by(InsightProposal.heat.desc(), InsightProposal.id)
    if state:
        stmt = stmt.where(InsightProposal.state == state)
    return [p for p in session.execute(stmt).scalars() if perm.on_taskforce(principal, p.action)]


def get_proposal(session: Session, *, principal: Principal, proposal_id: int) -> InsightProposal:
    principal.require(perm.PROPOSALS)
    row = session.get(InsightProposal, proposal_id)
    if row is None or not perm.on_taskforce(principal, row.action):
        raise NotFound("insight.error.proposal_not_found", ref=proposal_id)
    return row


@dataclass
class AcceptInput:
    version: int
    responsible_unit: str | None = None  # unit code; default: the action's task force
    responsible_person_id: int | None = None  # default: the first person of that unit
    due_on: date | None = None
    name: str | None = None


def _decidable(row: InsightProposal, version: int) -> None:
    if row.version != version:
        raise Conflict("insight.error.proposal_stale", error_code="stale_version")
    if row.state != "proposed":
        raise Conflict("insight.error.proposal_decided", state=row.state)


def accept(session: Session, *, principal: Principal, proposal_id: int, data: AcceptInput) -> Task:
    """The task force takes the proposal on: a "一点一策" task in its action, at the hotspot's place."""
    row = get_proposal(session, principal=principal, proposal_id=proposal_id)
    _decidable(row, data.version)
    action = row.action
    unit = _responsible_unit(session, action=action, code=data.responsible_unit)
    if data.responsible_unit is None and data.responsible_person_id is None and action.lead_unit is not None:
        try:  # a task force with nobody registered yet: its lead department answers for the task
            person = _responsible_person(session, unit=unit, person_id=None)
        except ValidationFailed:
            unit = action.lead_unit
            person = _responsible_person(session, unit=unit, person_id=None)
    else:
        person = _responsible_person(session, unit=unit, person_id=data.responsible_person_id)
    start = _today()
    due = data.due_on or start + timedelta(days=90)
    if due <= start + timedelta(days=2):
        raise ValidationFailed("insight.error.due_too_soon", field="due_on")
    span = (due - start).days
    milestones = [
        MilestoneInput("现场核查，制定一点一策方案", start + timedelta(days=max(1, span // 6)), 20),
        MilestoneInput("方案实施整治", start + timedelta(days=max(2, span * 2 // 3)), 70),
        MilestoneInput("复查投诉量，验收销号", due, 100),
    ]
    place = {"type": "Point", "coordinates": [row.lon, row.lat]} if row.lon is not None else None
    task = programme.create_task(
        session,
        actor=principal,
        principal=None,  # the office/task-force check above is this action's rule
        action=action,
        data=TaskInput(
            name=(data.name or f"{row.place}一点一策（群众反映 {row.reports} 件）")[:200],
            indicator="相关投诉件数",
            indicator_unit="件",
            baseline=float(row.reports),
            target_value=0.0,
            responsible_unit=unit,
            responsible_person=person,
            starts_on=start,
            due_on=due,
            milestones=milestones,
            target=row.summary[:500] or None,
            place=place,
            site_plan=f"一点一策：{row.place}。群众诉求：{row.summary}",
        ),
    )
    before = audit.snapshot(row)
    row.state, row.task_id = "accepted", task.id
    row.decided_by, row.decided_at = principal.username, now()
    session.flush()
    audit.record(
        session,
        actor=principal,
        action="insight.proposal.accept",
        entity_type="insight_proposal",
        entity_id=row.id,
        before=before,
        after=audit.snapshot(row),
    )
    return task


def dismiss(
    session: Session, *, principal: Principal, proposal_id: int, version: int, reason: str
) -> InsightProposal:
    row = get_proposal(session, principal=principal, proposal_id=proposal_id)
    _decidable(row, version)
    if not (reason or "").strip():
        raise ValidationFailed("insight.error.reason_required", field="reason")
    before = audit.snapshot(row)
    row.state, row.reason = "dismissed", reason.strip()[:2000]
    row.decided_by, row.decided_at = principal.username, now()
    session.flush()
    audit.record(
        session,
        actor=principal,
        action="insight.proposal.dismiss",
        entity_type="insight_proposal",
        entity_id=row.id,
        before=before,
        after=audit.snapshot(row),
    )
    return row


def _today() -> date:
    shown = to_display(now())
    assert shown is not None
    return shown.date()


def _responsible_unit(session: Session, *, action: Action, code: str | None) -> Unit:
    if code:
        unit = session.execute(select(Unit).where(Unit.code == code)).scalar_one_or_none()
        if unit is None:
            raise ValidationFailed("insight.error.unit_unknown", field="responsible_unit", unit=code)
        return unit
    unit = action.taskforce_unit or action.lead_unit
    if unit is None:
        raise ValidationFailed("insight.error.unit_unknown", field="responsible_unit", unit="-")
    return unit


def _responsible_person(session: Session, *, unit: Unit, person_id: int | None) -> Person:
    if person_id is not None:
        person = session.get(Person, person_id)
        if person is None or not person.active:
            raise ValidationFailed("insight.error.person_unknown", field="responsible_person_id")
        return person
    stmt = (
        select(Person)
        .join(Unit, Unit.id == Person.unit_id)
        .where(Unit.path.startswith(unit.path), Person.active.is_(True))
        .order_by(Person.id)
        .limit(1)
    )
    found = session.execute(stmt).scalars().first()
    if found is None:
        raise ValidationFailed("insight.error.person_required", field="responsible_person_id", unit=unit.name)
    return found


# --- before / after ------------------------------------------------------------------------------------


def before_after(session: Session, *, principal: Principal, task_id: int, weeks: int = 12) -> dict[str, Any]:
    """Weekly counts of reports at a task's place (same categories), before and after its pivot: the
    acceptance of the proposal it came from, else its passed 末端验收, else its start."""
    task = programme.get_task(session, principal=principal, task_id=task_id)
    if task.lon is None or task.lat is None:
        raise ValidationFailed("insight.error.task_without_place", task=task.code)
    weeks = max(1, min(int(weeks), MAX_WEEKS))
    proposal = session.execute(
        select(InsightProposal).where(InsightProposal.task_id == task.id)
    ).scalar_one_or_none()
    passed = session.scalar(
        select(func.min(Acceptance.checked_at)).where(
            Acceptance.task_id == task.id, Acceptance.passed.is_(True)
        )
    )
    pivot: datetime | None
    if proposal is not None and proposal.decided_at is not None:
        pivot, basis = proposal.decided_at, "proposal_accepted"
        cat_ids = list(proposal.category_ids)
    else:
        pivot, basis = (passed, "acceptance_passed") if passed else (None, "task_start")
        cat_ids = categories_for_action(session, action_code=task.action.code)
    if pivot is None:
        pivot = datetime.combine(task.starts_on, datetime.min.time(), tzinfo=display_zone())
    # Seven-day windows counted from the pivot itself: a report an hour before it is "before".
    start, end = pivot - timedelta(weeks=weeks), pivot + timedelta(weeks=weeks)
    dlat = NEAR_TASK_M / 111_320.0
    dlon = dlat / max(0.1, math.cos(math.radians(task.lat)))
    stmt = select(Case.reported_at, Case.lon, Case.lat).where(
        Case.reported_at >= start,
        Case.reported_at < end,
        Case.lat.between(task.lat - dlat, task.lat + dlat),
        Case.lon.between(task.lon - dlon, task.lon + dlon),
        Case.state != "voided",
    )
    if cat_ids:
        stmt = stmt.where(Case.category_id.in_(cat_ids))
    counts = [0] * (2 * weeks)
    for at, lon, lat in session.execute(stmt):
        if lon is None or lat is None or _distance_m(task.lon, task.lat, lon, lat) > NEAR_TASK_M:
            continue
        index = int((at - start) // timedelta(weeks=1))
        if 0 <= index < len(counts):
            counts[index] += 1
    rows: list[dict[str, Any]] = [
        {
            "week_start": to_display(start + timedelta(weeks=i)).date(),  # type: ignore[union-attr]
            "side": "before" if i < weeks else "after",
            "count": counts[i],
        }
        for i in range(2 * weeks)
    ]
    elapsed = max(0, min(weeks, int((now() - pivot) // timedelta(weeks=1)) + 1))  # after-windows begun
    for i in range(weeks + elapsed, 2 * weeks):
        rows[i]["count"] = None  # not yet
    before_total, after_total = sum(counts[:weeks]), sum(counts[weeks : weeks + elapsed])
    codes = (
        session.execute(select(Category.code).where(Category.id.in_(cat_ids))).scalars().all()
        if cat_ids
        else []
    )
    return {
        "task_id": task.id,
        "task_code": task.code,
        "pivot": pivot,
        "pivot_basis": basis,
        "radius_m": NEAR_TASK_M,
        "categories": sorted(codes),
        "weeks": rows,
        "before_total": before_total,
        "after_total": after_total,
        "before_per_week": round(before_total / weeks, 2),
        "after_weeks": elapsed,
        "after_per_week": round(after_total / elapsed, 2) if elapsed else None,
    }


def _distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_M * math.asin(min(1.0, math.sqrt(a)))
