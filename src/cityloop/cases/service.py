"""The case service: intake from every channel, reading one case, timeline, rating, “me too”, merge.

Functions take keyword arguments and a session; they flush, never commit. Changes of state go through
``workflow.apply_action`` (re-exported here), so the pages, Open311, the twin and the worker all pass
the same checks. The queue is in ``queue.py``, routing rules in ``rules.py``, files in ``attachments.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sqlalchemy import Row, Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, make_transient_to_detached

from cityloop.cases import categories, duplicates, mapcells, routing
from cityloop.cases.models import Case, CaseCounter, CaseEvent, CaseStep, IdempotencyKey, Rating, Supporter
from cityloop.cases.scope import Actor, can_see, role_of
from cityloop.cases.states import OPEN_STATES, SYSTEM, Action, State
from cityloop.cases.workflow import (
    AUDIT_EXCLUDE,
    ActionInput,
    add_event,
    allowed_actions,
    apply_action,
    check,
    event_values,
    step_values,
)
from cityloop.config import get_settings
from cityloop.core import audit
from cityloop.core.clock import now, to_display
from cityloop.core.db import is_postgresql
from cityloop.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cityloop.core.geo import Datum, to_wgs84
from cityloop.core.permissions import Principal, Role

__all__ = ["ActionInput", "allowed_actions", "apply_action"]

SOURCES = ("hotline_12345", "web", "app", "inspector", "enforcement", "sensor", "video")
URGENCIES = ("normal", "urgent", "emergency")
SCORES = ("satisfied", "basically_satisfied", "dissatisfied")
MAX_DESCRIPTION = 4000
# Channels each role may report through; the first is its default.
ROLE_SOURCES: dict[str, tuple[str, ...]] = {
    Role.citizen: ("app", "web"),
    Role.inspector: ("inspector", "app", "web"),
    Role.enforcement: ("enforcement", "app", "web"),
    Role.dispatcher: SOURCES,
    Role.operator: ("sensor", "video", "web"),
    SYSTEM: ("sensor", "video", "hotline_12345", "web", "app"),
}
DEFAULT_SOURCES = ("web", "app")
_STEPS = cast(Table, CaseStep.__table__)
_EVENTS = cast(Table, CaseEvent.__table__)
_KEYS = cast(Table, IdempotencyKey.__table__)
_CASES = cast(Table, Case.__table__)
_INSERT_CASES = insert(_CASES).returning(_CASES.c.id, _CASES.c.tracking_no)
_INSERT_STEP = insert(_STEPS)
_INSERT_EVENT = insert(_EVENTS)
_INSERT_KEY = insert(_KEYS)
# Columns filled by later steps of the loop (None at intake).
_LATER = (
    "due_at",
    "register_due_at",
    "dispatch_due_at",
    "handle_due_at",
    "registered_at",
    "dispatched_at",
    "accepted_at",
    "feedback_at",
    "verified_at",
    "closed_at",
    "voided_at",
)


@dataclass
class NewCase:
    """A report as it arrives from any channel."""

    category: str
    description: str = ""
    lon: float | None = None
    lat: float | None = None
    datum: str = "wgs84"
    address: str | None = None
    urgency: str = "normal"
    source: str | None = None
    source_ref: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    attributes: dict[str, Any] | None = None


@dataclass
class IntakeResult:
    case: Case
    created: bool
    duplicates: list[duplicates.Candidate] = field(default_factory=list)
    category: categories.Leaf | None = None  # set on creation: render without loading the relationship


def owner_for(actor: Actor) -> str:
    if isinstance(actor, Principal):
        return f"user:{actor.user_id}"
    return f"system:{actor.name}"[:60]


def _request_hash(report: NewCase) -> str:
    # ``vars`` instead of ``asdict``: the same keys and values, without asdict's deep copy.
    body = json.dumps(vars(report), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# Plain columns, not the entity: on the hot path an ORM row costs more than the query itself.
_FIND_KEY = select(_KEYS.c.case_id, _KEYS.c.request_hash).where(
    _KEYS.c.owner == bindparam("owner"), _KEYS.c.key == bindparam("key")
)


def find_idempotent(session: Session, *, owner: str, key: str) -> Row[Any, Any] | None:
    """The case a key already stands for: a row with ``case_id`` and ``request_hash``, or None."""
    return session.execute(_FIND_KEY, {"owner": owner, "key": key}).first()


def replay(session: Session, row: Row[Any, Any], report: NewCase) -> IntakeResult:
    if row.request_hash != _request_hash(report):
        raise Conflict("cases.error.idempotency_mismatch", error_code="idempotency_key_reused")
    case = session.get(Case, row.case_id)
    assert case is not None  # the key row cascades with its case
    return IntakeResult(case, created=False)


def _counter_upsert(dialect: Any) -> Any:
    # Built once per dialect, on the table (a Core statement: no ORM bulk-insert machinery per call).
    table = cast(Table, CaseCounter.__table__)
    stmt = dialect.insert(table).values(year=bindparam("year"), last=bindparam("count"))
    return stmt.on_conflict_do_update(
        index_elements=[table.c.year], set_={"last": table.c.last + bindparam("count")}
    ).returning(table.c.last)


_UPSERT = {"postgresql": _counter_upsert(postgresql), "sqlite": _counter_upsert(sqlite)}


def next_numbers(session: Session, *, year: int, count: int = 1) -> int:
    """Reserve ``count`` tracking numbers of ``year``; returns the last one (the first is last-count+1)."""
    stmt = _UPSERT["postgresql" if is_postgresql(session) else "sqlite"]
    return int(session.execute(stmt, {"year": year, "count": count}).scalar_one())


def tracking_no(year: int, number: int) -> str:
    return f"{get_settings().case_tracking_prefix}-{year}-{number:06d}"


def _check_report(actor: Actor, report: NewCase) -> tuple[str, float | None, float | None]:
    role = role_of(actor)
    allowed = ROLE_SOURCES.get(role, DEFAULT_SOURCES)
    source = report.source or allowed[0]
    if source not in SOURCES:
        raise ValidationFailed("cases.error.source_unknown", source=source, allowed=", ".join(SOURCES))
    if source not in allowed:
        raise Forbidden("cases.error.source_refused", source=source, role=role)
    if report.urgency not in URGENCIES:
        raise ValidationFailed("cases.error.urgency_unknown", urgency=report.urgency)
    if len(report.description or "") > MAX_DESCRIPTION:
        raise ValidationFailed("cases.error.description_too_long", max=MAX_DESCRIPTION)
    if (report.lon is None) != (report.lat is None):
        raise ValidationFailed("cases.error.coordinates_pair")
    if report.lon is None or report.lat is None:
        if not (report.address or "").strip():
            raise ValidationFailed("cases.error.location_missing")
        return source, None, None
    lon, lat = float(report.lon), float(report.lat)
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValidationFailed("cases.error.coordinates_invalid")
    if report.datum not in Datum.__members__:
        raise ValidationFailed("cases.error.datum_unknown", datum=report.datum)
    lon, lat = to_wgs84(lon, lat, report.datum)
    return source, lon, lat


class IntakeHook(Protocol):
    """Work another domain does on every new case (``cityloop.bridges.install`` adds them; the category
    suggestion of ``insight.intake`` is one). ``prepare`` runs with intake's reads, before the write
    transaction, and may be as slow as it needs; ``persist`` runs inside it, after the case is inserted,
    and must be quick and must not raise (a report is never refused because of a hook)."""

    def prepare(self, session: Session, *, report: NewCase) -> Any: ...

    def persist(self, session: Session, *, rows: Sequence[tuple[int, Any]]) -> None:
        """``rows``: (case id, what ``prepare`` returned) for each new case written together."""


INTAKE_HOOKS: list[IntakeHook] = []


def _hooks_of(batch: Sequence[Prepared]) -> list[IntakeHook]:
    """The hooks that prepared anything for ``batch``, in the order they ran."""
    seen: list[IntakeHook] = []
    for p in batch:
        for hook, _ in p.hooks:
            if hook not in seen:
                seen.append(hook)
    return seen


def add_intake_hook(hook: IntakeHook) -> None:
    if hook not in INTAKE_HOOKS:
        INTAKE_HOOKS.append(hook)


def remove_intake_hook(hook: IntakeHook) -> None:
    if hook in INTAKE_HOOKS:
        INTAKE_HOOKS.remove(hook)


@dataclass
class Prepared:
    """A report checked, located, routed and compared with open cases: ready to be written."""

    actor: Actor
    report: NewCase
    owner: str
    key: str | None
    source: str
    lon: float | None
    lat: float | None
    category: categories.Leaf
    located: routing.Located | None
    cell: str | None
    route: routing.Route
    duplicates: list[duplicates.Candidate]
    hooks: list[tuple[IntakeHook, Any]] = field(default_factory=list)


def prepare(
    session: Session,
    *,
    actor: Actor,
    report: NewCase,
    idempotency_key: str | None = None,
    idempotency_owner: str | None = None,
) -> Prepared | IntakeResult:
    """Everything intake decides by reading (a replay of a known key comes back as its IntakeResult).

    Reads only, so a caller may run it outside the write transaction (see ``api.create_case``).
    """
    owner = idempotency_owner or owner_for(actor)
    if idempotency_key:
        existing = find_idempotent(session, owner=owner, key=idempotency_key)
        if existing is not None:
            return replay(session, existing, report)
    source, lon, lat = _check_report(actor, report)
    try:
        category = categories.leaf(session, code=report.category)
    except NotFound as exc:
        raise ValidationFailed("cases.error.category_unknown", category=report.category) from exc
    located, cell = None, None
    dupes: list[duplicates.Candidate] = []
    if lon is not None and lat is not None:
        located = routing.locate(session, lon=lon, lat=lat)
        if not located.inside:
            raise ValidationFailed(
                "cases.error.outside_district", lon=lon, lat=lat, error_code="outside_district"
            )
        cell = duplicates.cell_of(lon, lat)
        dupes = duplicates.candidates(
            session,
            category=category,
            lon=lon,
            lat=lat,
            at=now(),
            cell=cell,
            text=report.description,
            address=report.address,
        )
    route = routing.route(session, category=category, located=located)
    hooks = [(hook, hook.prepare(session, report=report)) for hook in INTAKE_HOOKS]
    return Prepared(
        actor, report, owner, idempotency_key, source, lon, lat, category, located, cell, route, dupes, hooks
    )


def persist(session: Session, *, prepared: Prepared) -> IntakeResult:
    """Write a prepared report: number it, insert the case, its first deadline, event and key, audit it."""
    return persist_many(session, [prepared])[0]


def persist_many(session: Session, batch: Sequence[Prepared]) -> list[IntakeResult]:
    """Write prepared reports together (``groupcommit``): one numbering, one INSERT per table for all of
    them, then one audit record and the hooks' rows for each, in the order given."""
    at = now()
    year = to_display(at).year  # type: ignore[union-attr]
    last = next_numbers(session, year=year, count=len(batch))
    cases, rows, steps = [], [], []
    for n, p in enumerate(batch):
        values = _case_values(p, at, tracking_no(year, last - len(batch) + 1 + n))
        case = Case(**values)
        step = step_values(case=case, category=p.category, step="register", unit_id=None, start=at)
        for name in ("due_at", "register_due_at"):
            values[name] = getattr(case, name)
        cases.append(case)
        rows.append(values)
        steps.append(step)
    # Plain INSERTs on the hot path of every channel; each case object then joins the session as if it
    # had been loaded (every column is set), so callers can go on using it. Ids come back with their
    # tracking numbers (unique), so nothing depends on the order of RETURNING.
    ids = {row.tracking_no: row.id for row in session.execute(_INSERT_CASES, rows)}
    events, keys = [], []
    for p, case, step in zip(batch, cases, steps, strict=True):
        case.id = step["case_id"] = ids[case.tracking_no]
        make_transient_to_detached(case)
        session.add(case)
        events.append(
            event_values(
                case_id=case.id,
                actor=p.actor,
                action="report",
                from_state=None,
                to_state=case.state,
                public=True,
                data={"source": p.source, "routing": p.route.reason},
                at=at,
            )
        )
        if p.key:
            key_row = {
                "owner": p.owner,
                "key": p.key,
                "request_hash": _request_hash(p.report),
                "case_id": case.id,
                "created_at": at,
            }
            keys.append(key_row)
    session.execute(_INSERT_STEP, steps)
    session.execute(_INSERT_EVENT, events)
    if keys:
        session.execute(_INSERT_KEY, keys)
    audit.record_many(
        session,
        action="case.report",
        entity_type="case",
        entries=[
            (p.actor, case.id, {k: v for k, v in values.items() if k not in AUDIT_EXCLUDE} | {"id": case.id})
            for p, case, values in zip(batch, cases, rows, strict=True)
        ],
    )
    for hook in _hooks_of(batch):
        done = [(case.id, v) for p, case in zip(batch, cases, strict=True) for h, v in p.hooks if h is hook]
        hook.persist(session, rows=done)
    return [
        IntakeResult(case, created=True, duplicates=p.duplicates, category=p.category)
        for p, case in zip(batch, cases, strict=True)
    ]


def _case_values(p: Prepared, at: Any, number: str) -> dict[str, Any]:
    report, actor = p.report, p.actor
    principal = actor if isinstance(actor, Principal) else None
    return {
        "tracking_no": number,
        "source": p.source,
        "source_ref": report.source_ref,
        "category_id": p.category.id,
        "urgency": report.urgency,
        "state": State.reported.value,
        "lon": p.lon,
        "lat": p.lat,
        "address": (report.address or "").strip() or None,
        "h3_cell": p.cell,
        "map_cell": mapcells.cell_of(p.lon, p.lat),
        "grid_id": p.located.grid.id if p.located and p.located.grid else None,
        "street_id": p.located.street.id if p.located and p.located.street else None,
        "unit_id": p.route.unit.id if p.route.unit else None,
        "routing_reason": p.route.reason,
        "description": report.description or "",
        "attributes": report.attributes,
        "reporter_user_id": principal.user_id if principal else None,
        "reporter_name": report.reporter_name or (principal.display_name if principal else None),
        "reporter_phone": report.reporter_phone,
        "parent_id": None,
        "possible_duplicate": bool(p.duplicates),
        "rework_count": 0,
        "return_count": 0,
        "extension_count": 0,
        "handle_late": False,
        "handle_extended": False,
        "verify_late": False,
        "supporters_count": 0,
        "rating": None,
        "reported_at": at,
        "updated_at": at,
        "version": 1,
        **{name: None for name in _LATER},
    }


def intake(
    session: Session,
    *,
    actor: Actor,
    report: NewCase,
    idempotency_key: str | None = None,
    idempotency_owner: str | None = None,
) -> IntakeResult:
    """Turn a report into a case (state ``reported``), routed, deadline started, duplicates offered.

    With an idempotency key a repeat of the same report returns the first case (``created=False``);
    the same key with a different report is a 409. Nothing is written when any check fails.
    """
    prepared = prepare(
        session,
        actor=actor,
        report=report,
        idempotency_key=idempotency_key,
        idempotency_owner=idempotency_owner,
    )
    if isinstance(prepared, IntakeResult):
        return prepared
    return persist(session, prepared=prepared)


# --- reading ------------------------------------------------------------------------------------------


def get_case(session: Session, *, principal: Principal, case_id: int, for_update: bool = False) -> Case:
    """A case as ``principal`` may see it; out of scope is indistinguishable from absent (404)."""
    stmt = select(Case).where(Case.id == case_id)
    if for_update and is_postgresql(session):
        # Serialise actions on one case: the second waits, then sees the new version and gets 409.
        stmt = stmt.with_for_update(of=Case)
    case = session.execute(stmt).unique().scalar_one_or_none()
    if case is None or not can_see(principal, case, routing.areas(session)):
        raise NotFound("cases.error.case_not_found", ref=case_id)
    return case


def get_by_tracking_no(session: Session, *, tracking_no: str) -> Case:
    case = session.execute(select(Case).where(Case.tracking_no == tracking_no)).unique().scalar_one_or_none()
    if case is None:
        raise NotFound("cases.error.case_not_found", ref=tracking_no)
    return case


def timeline(session: Session, *, case: Case, public_only: bool) -> list[CaseEvent]:
    stmt = select(CaseEvent).where(CaseEvent.case_id == case.id)
    if public_only:
        stmt = stmt.where(CaseEvent.public.is_(True))
    return list(session.execute(stmt.order_by(CaseEvent.at, CaseEvent.id)).unique().scalars())


def find_duplicates(session: Session, *, case: Case) -> list[duplicates.Candidate]:
    if case.lon is None or case.lat is None:
        return []
    return duplicates.candidates(
        session,
        category=case.category,
        lon=case.lon,
        lat=case.lat,
        at=now(),
        exclude_id=case.id,
        cell=case.h3_cell,
        text=case.description,
        address=case.address,
    )


# --- rating, me too, merge --------------------------------------------------------------------------


def rate(session: Session, *, actor: Principal, case: Case, score: str, comment: str | None = None) -> Rating:
    """The reporter's rating of a closed case (a dispatcher records it from a hotline call-back)."""
    check(actor, case, Action.rate.value, None, routing.areas(session))
    if score not in SCORES:
        raise ValidationFailed("cases.error.score_unknown", score=score, allowed=", ".join(SCORES))
    if session.execute(select(Rating.id).where(Rating.case_id == case.id)).first():
        raise Conflict("cases.error.already_rated", error_code="already_rated")
    at = now()
    rating = Rating(
        case_id=case.id,
        score=score,
        comment=(comment or "").strip() or None,
        channel="citizen" if actor.is_citizen else "callback",
        rated_by=actor.user_id,
        rated_at=at,
    )
    session.add(rating)
    # A plain UPDATE: recording satisfaction must not make anyone's copy of the case stale.
    session.execute(
        update(Case)
        .where(Case.id == case.id)
        .values(rating=score)
        .execution_options(synchronize_session=False)
    )
    add_event(
        session,
        case=case,
        actor=actor,
        action="rate",
        from_state=case.state,
        to_state=case.state,
        public=True,
        note=rating.comment,
        data={"score": score},
        at=at,
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="case.rate",
        entity_type="case",
        entity_id=case.id,
        after={"score": score, "channel": rating.channel},
    )
    return rating


def support(session: Session, *, actor: Principal, case: Case) -> Case:
    """“Me too”: a citizen adds their voice to an open case (once). Does not bump the case version."""
    target = session.get(Case, case.parent_id) if case.parent_id else case
    assert target is not None
    if target.state not in OPEN_STATES:
        raise Conflict("cases.error.not_open", error_code="transition_refused")
    if target.reporter_user_id == actor.user_id:
        raise Conflict("cases.error.own_case", error_code="own_case")
    exists = session.execute(
        select(Supporter.id).where(Supporter.case_id == target.id, Supporter.user_id == actor.user_id)
    ).first()
    if exists:
        raise Conflict("cases.error.already_supported", error_code="already_supported")
    session.add(Supporter(case_id=target.id, user_id=actor.user_id, at=now()))
    # A plain UPDATE: a supporter must not make a dispatcher's next action stale.
    session.execute(
        update(Case)
        .where(Case.id == target.id)
        .values(supporters_count=Case.supporters_count + 1)
        .execution_options(synchronize_session=False)
    )
    add_event(
        session,
        case=target,
        actor=actor,
        action="me_too",
        from_state=target.state,
        to_state=target.state,
        public=True,
    )
    session.flush()
    session.refresh(target, attribute_names=["supporters_count"])
    audit.record(
        session,
        actor=actor,
        action="case.support",
        entity_type="case",
        entity_id=target.id,
        after={"supporters_count": target.supporters_count},
    )
    return target


def merge(
    session: Session, *, actor: Actor, parent: Case, children: Sequence[tuple[Case, int | None]]
) -> list[Case]:
    """Link duplicate ``children`` (case, version read) to ``parent``; they close when it closes."""
    if parent.state not in OPEN_STATES:
        raise Conflict("cases.error.parent_not_open", error_code="transition_refused")
    if parent.parent_id is not None:
        raise Conflict("cases.error.parent_is_child", error_code="transition_refused")
    merged = []
    for child, version in children:
        if child.id == parent.id:
            raise ValidationFailed("cases.error.merge_self")
        apply_action(
            session,
            actor=actor,
            case=child,
            action=Action.merge.value,
            data=ActionInput(version=child.version if version is None else version, merge_into=parent.id),
            internal=True,
        )
        merged.append(child)
    add_event(
        session,
        case=parent,
        actor=actor,
        action="merged_children",
        from_state=parent.state,
        to_state=parent.state,
        public=False,
        data={"children": [c.tracking_no for c in merged]},
    )
    session.flush()
    return merged


def rating_of(session: Session, *, case: Case) -> Rating | None:
    return session.execute(select(Rating).where(Rating.case_id == case.id)).scalar_one_or_none()


def reporter_of(case: Case) -> dict[str, Any]:
    return {"user_id": case.reporter_user_id, "name": case.reporter_name, "phone": case.reporter_phone}
