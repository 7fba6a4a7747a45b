"""Driving the transition table: checks, effects on steps and timestamps, timeline, audit.

``apply_action`` is the one entry point for every change of state. It refuses, before changing
anything: an action the table does not allow in the case's state (409 with the reason), a role the
row does not name or a case outside the actor's scope (403), a stale version (409), missing fields
(422). Then it applies the action's effect, appends the timeline event and the audit record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from cityloop.cases import deadlines, notify, routing
from cityloop.cases.categories import Leaf
from cityloop.cases.models import Attachment, Case, CaseEvent, CaseReturn, CaseStep, Category
from cityloop.cases.scope import Actor, can_act, can_see, role_of
from cityloop.cases.states import Action, State, Transition, actions_from, find
from cityloop.core import audit
from cityloop.core.clock import now
from cityloop.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cityloop.core.permissions import Principal

MAX_EXTENSION_HOURS = 24 * 90
AUDIT_EXCLUDE = {"description", "attributes", "reporter_phone", "reporter_name"}

# Other domains may hold a case of their channel back from verification and closure (the twin: not
# before the sensors have been normal long enough). A guard raises an AppError (409) to refuse.
CloseGuard = Callable[[Session, Case], None]
CLOSE_GUARDS: dict[str, CloseGuard] = {}  # by the case's source
GUARDED_ACTIONS = frozenset({Action.verify_pass, Action.close})


def set_close_guard(source: str, guard: CloseGuard | None) -> None:
    """Install (or with None remove) the guard for cases reported through ``source``."""
    if guard is None:
        CLOSE_GUARDS.pop(source, None)
    else:
        CLOSE_GUARDS[source] = guard


@dataclass
class ActionInput:
    """What an actor sends with an action (the API's body, or a caller in another domain)."""

    version: int
    note: str | None = None
    public_note: str | None = None
    reason: str | None = None
    unit: str | None = None  # dispatch: the unit's code (default: the routed unit)
    category: str | None = None  # register/dispatch: correct the category
    hours: float | None = None  # request_extension
    attachment_ids: list[int] = field(default_factory=list)
    merge_into: int | None = None  # merge (service.merge): the parent case's id


# --- timeline and steps -----------------------------------------------------------------------------


def actor_fields(actor: Actor | None) -> dict[str, Any]:
    if isinstance(actor, Principal):
        return {
            "actor_user_id": actor.user_id,
            "actor_name": actor.display_name,
            "actor_role": actor.role.value,
            "unit_id": actor.unit_id,
        }
    name = actor.name if actor is not None else "system"
    return {"actor_user_id": getattr(actor, "user_id", None), "actor_name": name, "actor_role": "system"}


def event_values(
    *,
    case_id: int,
    actor: Actor | None,
    action: str,
    from_state: str | None,
    to_state: str | None,
    public: bool,
    note: str | None = None,
    public_note: str | None = None,
    evidence: list[int] | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    unit_id: int | None = None,
) -> dict[str, Any]:
    """The columns of one timeline event (for an ORM object or a plain INSERT)."""
    fields = {"unit_id": None, **actor_fields(actor)}
    if unit_id is not None:
        fields["unit_id"] = unit_id
    return {
        "case_id": case_id,
        "at": at or now(),
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "public": public,
        "note": note,
        "public_note": public_note,
        "evidence": evidence or None,
        "data": data,
        **fields,
    }


def add_event(session: Session, *, case: Case, actor: Actor | None, **kw: Any) -> CaseEvent:
    event = CaseEvent(**event_values(case_id=case.id, actor=actor, **kw))
    session.add(event)
    return event


def step_values(
    *, case: Case, category: Category | Leaf, step: str, unit_id: int | None, start: datetime
) -> dict[str, Any]:
    """The columns of a newly started step; sets the case's ``due_at`` (and the step's own due column)."""
    duration = deadlines.step_duration(category.deadlines, case.urgency, step)
    d = deadlines.compute(
        start=start, duration=duration, working_hours=category.working_hours, urgency=case.urgency
    )
    case.due_at = d.due_at
    if step == "register":
        case.register_due_at = d.due_at
    elif step == "dispatch":
        case.dispatch_due_at = d.due_at
    elif step == "handle":
        case.handle_due_at = d.due_at
    return {
        "case_id": case.id,
        "step": step,
        "unit_id": unit_id,
        "started_at": start,
        "due_at": d.due_at,
        "remind_at": d.remind_at,
        "escalate_at": d.escalate_at,
        "allowed_minutes": duration.total_seconds() / 60,
        "working_hours": category.working_hours and case.urgency != "emergency",
    }


def open_step(
    session: Session,
    *,
    case: Case,
    category: Category | Leaf,
    step: str,
    unit_id: int | None,
    start: datetime,
) -> CaseStep:
    """Start the clock of ``step``; the case's ``due_at`` follows the running step."""
    row = CaseStep(**step_values(case=case, category=category, step=step, unit_id=unit_id, start=start))
    session.add(row)
    return row


def open_step_of(session: Session, case: Case) -> CaseStep | None:
    stmt = select(CaseStep).where(CaseStep.case_id == case.id, CaseStep.done_at.is_(None))
    return session.execute(stmt.order_by(CaseStep.id.desc()).limit(1)).scalar_one_or_none()


def close_step(session: Session, *, case: Case, outcome: str, at: datetime) -> CaseStep | None:
    step = open_step_of(session, case)
    if step is not None:
        step.done_at = at
        step.outcome = outcome
        # The indicators judge every attempt, not only the last one (cases/indicators.py).
        late = at > step.due_at
        if step.step == "handle" and step.unit_id == case.unit_id and late:
            case.handle_late = True
        elif step.step == "verify" and late:
            case.verify_late = True
    case.due_at = None
    return step


def judge_unit(session: Session, case: Case, unit_id: int) -> None:
    """The handling flags of ``case`` for the unit it is now dispatched to: that unit's own earlier
    attempts (a case returned and sent back to it), never another unit's."""
    rows = session.execute(
        select(CaseStep.due_at, CaseStep.done_at, CaseStep.extensions).where(
            CaseStep.case_id == case.id, CaseStep.step == "handle", CaseStep.unit_id == unit_id
        )
    ).all()
    case.handle_late = any(done is not None and done > due for due, done, _ in rows)
    case.handle_extended = any(n > 0 for _, _, n in rows)


def extend_step(step: CaseStep, *, hours: float, at: datetime) -> None:
    """Add ``hours`` to a running step; notices already sent for the old deadline may go again for the new."""
    step.allowed_minutes += hours * 60
    d = deadlines.compute(
        start=step.started_at,
        duration=timedelta(minutes=step.allowed_minutes),
        working_hours=step.working_hours,
        urgency="normal" if step.working_hours else "emergency",
    )
    step.due_at, step.remind_at, step.escalate_at = d.due_at, d.remind_at, d.escalate_at
    if d.remind_at > at:
        step.reminded_at = None
    if d.due_at > at:
        step.overdue_at = None
    if d.escalate_at > at:
        step.escalated_at = None


# --- checks -------------------------------------------------------------------------------------------


def allowed_actions(actor: Actor, case: Case, units: routing.Areas | None = None) -> list[str]:
    """Actions this actor may take on this case now (for buttons; the API re-checks everything)."""
    if not can_act(actor, case, units):
        return ["note"] if isinstance(actor, Principal) and not actor.is_citizen else []
    return [a.value for a in actions_from(case.state, role_of(actor))]


def _transition(case: Case, action: str) -> Transition:
    if action not in Action._value2member_map_:
        raise ValidationFailed("cases.error.action_unknown", action=action, error_code="unknown_action")
    t = find(case.state, action)
    if t is None:
        raise Conflict(
            "cases.error.transition_refused",
            action=action,
            state=case.state,
            error_code="transition_refused",
            details={"state": case.state, "action": action},
        )
    return t


def check(
    actor: Actor, case: Case, action: str, version: int | None, units: routing.Areas | None = None
) -> Transition:
    t = _transition(case, action)
    if role_of(actor) not in t.roles:
        raise Forbidden("cases.error.role_refused", action=action, role=role_of(actor))
    # A note needs only sight of the case (属地 staff may comment on what lies in their area).
    if t.action is Action.note and isinstance(actor, Principal):
        allowed = can_see(actor, case, units)
    else:
        allowed = can_act(actor, case, units)
    if not allowed:
        raise Forbidden("cases.error.scope_refused", action=action)
    if version is not None and version != case.version:
        raise Conflict(
            "cases.error.stale_version",
            current=case.version,
            error_code="stale_version",
            details={"current_version": case.version},
        )
    return t


def _need(t: Transition, data: ActionInput) -> None:
    for name in t.needs:
        value = getattr(data, name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValidationFailed("cases.error.field_required", field=name, action=t.action.value)


def _evidence(session: Session, case: Case, ids: list[int]) -> list[int]:
    if not ids:
        return []
    found = set(
        session.execute(
            select(Attachment.id).where(Attachment.case_id == case.id, Attachment.id.in_(ids))
        ).scalars()
    )
    missing = sorted(set(ids) - found)
    if missing:
        raise ValidationFailed("cases.error.attachment_not_on_case", ids=", ".join(map(str, missing)))
    return sorted(found)


# --- effects ------------------------------------------------------------------------------------------

Effect = Callable[[Session, Case, ActionInput, datetime, dict[str, Any]], None]


def _recategorise(session: Session, case: Case, data: ActionInput) -> None:
    if data.category and data.category != case.category.code:
        from cityloop.cases.categories import get_by_code

        try:
            case.category = get_by_code(session, code=data.category)
        except NotFound as exc:
            raise ValidationFailed("cases.error.category_unknown", category=data.category) from exc
        located = None
        if case.lon is not None and case.lat is not None:
            located = routing.locate(session, lon=case.lon, lat=case.lat)
        r = routing.route(session, category=case.category, located=located)
        case.unit_id, case.routing_reason = (r.unit.id if r.unit else None), r.reason


def _register(session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]) -> None:
    _recategorise(session, case, data)
    case.registered_at = at
    close_step(session, case=case, outcome="done", at=at)
    open_step(session, case=case, category=case.category, step="dispatch", unit_id=None, start=at)


def _void(session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]) -> None:
    case.voided_at = at
    close_step(session, case=case, outcome="voided", at=at)


def _dispatch(session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]) -> None:
    _recategorise(session, case, data)
    a = routing.areas(session)
    target = a.by_code.get(data.unit) if data.unit else (a.by_id.get(case.unit_id) if case.unit_id else None)
    if target is None:
        raise ValidationFailed("cases.error.dispatch_unit", unit=data.unit or "-")
    if target.kind not in routing.HANDLING_KINDS:
        raise ValidationFailed("cases.error.dispatch_unit_kind", unit=target.code, kind=target.kind)
    if case.unit_id != target.id:
        case.routing_reason = "dispatcher"
    judge_unit(session, case, target.id)
    case.unit_id = target.id
    case.dispatched_at = at
    out["unit"] = target.code
    close_step(session, case=case, outcome="done", at=at)
    open_step(session, case=case, category=case.category, step="handle", unit_id=target.id, start=at)


def _accept(session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]) -> None:
    if case.accepted_at is None:
        case.accepted_at = at


def _return(session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]) -> None:
    case.return_count += 1
    close_step(session, case=case, outcome="returned", at=at)
    # This dispatch was not accurate: it counts for the unit that returned it, from now on as a row of
    # its own (the case's columns will describe the next dispatch).
    if case.dispatched_at is not None:
        session.add(
            CaseReturn(
                case_id=case.id,
                reported_at=case.reported_at,
                unit_id=case.unit_id,
                dispatched_at=case.dispatched_at,
                dispatched_on_time=case.dispatch_due_at is not None
                and case.dispatched_at <= case.dispatch_due_at,
                returned_at=at,
            )
        )
    open_step(session, case=case, category=case.category, step="dispatch", unit_id=None, start=at)


def _request_extension(
    session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]
) -> None:
    hours = float(data.hours or 0)
    if not 0 < hours <= MAX_EXTENSION_HOURS:
        raise ValidationFailed("cases.error.extension_hours", max=MAX_EXTENSION_HOURS)
    out["hours"] = hours


def _approve_extension(
    session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]
) -> None:
    request = session.execute(
        select(CaseEvent.data)
        .where(CaseEvent.case_id == case.id, CaseEvent.action == Action.request_extension.value)
        .order_by(CaseEvent.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    hours = float((request or {}).get("hours", 0))
    step = open_step_of(session, case)
    if step is not None and hours > 0:
        extend_step(step, hours=hours, at=at)
        case.due_at = case.handle_due_at = step.due_at
        step.extensions = (step.extensions or 0) + 1
        if step.step == "handle" and step.unit_id == case.unit_id:
            case.handle_extended = True
    case.extension_count += 1
    out["hours"] = hours


def _approve_park(session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]) -> None:
    close_step(session, case=case, outcome="parked", at=at)


def _resume(session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]) -> None:
    open_step(session, case=case, category=case.category, step="handle", unit_id=case.unit_id, start=at)


def _feedback(session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]) -> None:
    case.feedback_at = at
    close_step(session, case=case, outcome="done", at=at)
    open_step(session, case=case, category=case.category, step="verify", unit_id=None, start=at)


def _verify_pass(session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]) -> None:
    case.verified_at = at
    close_step(session, case=case, outcome="passed", at=at)


def _verify_fail(session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]) -> None:
    case.rework_count += 1
    close_step(session, case=case, outcome="failed", at=at)
    open_step(session, case=case, category=case.category, step="handle", unit_id=case.unit_id, start=at)


def _close(session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]) -> None:
    case.closed_at = at
    close_step(session, case=case, outcome="done", at=at)
    if case.reporter_user_id is not None:
        notify.queue(
            session,
            kind="closed",
            case_id=case.id,
            audience="reporter",
            user_id=case.reporter_user_id,
            message_key="cases.notice.closed",
            params={"tracking_no": case.tracking_no},
        )
    # Every reporter of a merged duplicate hears about the closure on their own case.
    children = session.execute(select(Case).where(Case.parent_id == case.id)).scalars().all()
    for child in children:
        add_event(
            session,
            case=child,
            actor=None,
            action="parent_closed",
            from_state=child.state,
            to_state=child.state,
            public=True,
            public_note=data.public_note,
            data={"parent": case.tracking_no},
            at=at,
        )
        if child.reporter_user_id is not None:
            notify.queue(
                session,
                kind="closed",
                case_id=child.id,
                audience="reporter",
                user_id=child.reporter_user_id,
                message_key="cases.notice.parent_closed",
                params={"tracking_no": child.tracking_no, "parent": case.tracking_no},
            )
    out["children_informed"] = len(children)


def _merge(session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]) -> None:
    parent = session.get(Case, data.merge_into) if data.merge_into else None
    if parent is None:
        raise ValidationFailed("cases.error.merge_parent_missing")
    case.parent_id = parent.id
    out["parent"] = parent.tracking_no
    close_step(session, case=case, outcome="merged", at=at)


def _nothing(session: Session, case: Case, data: ActionInput, at: datetime, out: dict[str, Any]) -> None:
    return None


EFFECTS: dict[Action, Effect] = {
    Action.register: _register,
    Action.void: _void,
    Action.dispatch: _dispatch,
    Action.accept: _accept,
    Action.return_: _return,
    Action.request_extension: _request_extension,
    Action.approve_extension: _approve_extension,
    Action.approve_park: _approve_park,
    Action.resume: _resume,
    Action.feedback: _feedback,
    Action.verify_pass: _verify_pass,
    Action.verify_fail: _verify_fail,
    Action.close: _close,
    Action.merge: _merge,
}


def apply_action(
    session: Session, *, actor: Actor, case: Case, action: str, data: ActionInput, internal: bool = False
) -> Case:
    """Do ``action`` on ``case`` as ``actor`` if the table, the role, the scope and the version allow it."""
    t = check(actor, case, action, data.version, routing.areas(session))
    if t.own_endpoint and not internal:
        raise Conflict("cases.error.own_endpoint", action=action, error_code="transition_refused")
    _need(t, data)
    if t.action in GUARDED_ACTIONS and (guard := CLOSE_GUARDS.get(case.source)) is not None:
        guard(session, case)
    evidence = _evidence(session, case, data.attachment_ids)
    at = now()
    before = audit.snapshot(case, exclude=AUDIT_EXCLUDE)
    out: dict[str, Any] = {}
    from_state = case.state
    # One UPDATE per action: the effect's own queries must not flush half of it (and bump the version).
    with session.no_autoflush:
        EFFECTS.get(t.action, _nothing)(session, case, data, at, out)
        case.state = t.to.value
    try:
        session.flush()
    except StaleDataError as exc:  # another session changed the row between our read and our write
        raise Conflict("cases.error.stale_version", current="?", error_code="stale_version") from exc
    add_event(
        session,
        case=case,
        actor=actor,
        action=t.action.value,
        from_state=from_state,
        to_state=case.state,
        public=t.public,
        note=data.note or data.reason,
        public_note=data.public_note,
        evidence=evidence,
        data=out or None,
        at=at,
        unit_id=case.unit_id if t.action is Action.dispatch else None,
    )
    audit.record(
        session,
        actor=actor,
        action=f"case.{t.action.value}",
        entity_type="case",
        entity_id=case.id,
        before=before,
        after=audit.snapshot(case, exclude=AUDIT_EXCLUDE),
        note=data.reason,
    )
    return case


def is_open(case: Case) -> bool:
    return case.state not in (State.closed, State.voided, State.merged)
