"""Routing rules as data an administrator edits: category × area → unit (see ``routing.route``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.cases.categories import get_by_code
from cityloop.cases.models import RoutingRule
from cityloop.cases.routing import HANDLING_KINDS
from cityloop.cases.scope import Actor
from cityloop.core import audit
from cityloop.core.errors import Conflict, NotFound, ValidationFailed
from cityloop.org.models import AREA_KINDS, Unit


def _unit(session: Session, code: str, *, area: bool) -> Unit:
    unit = session.execute(select(Unit).where(Unit.code == code)).scalar_one_or_none()
    if unit is None:
        raise ValidationFailed("error.unit_not_found", ref=code)
    allowed = AREA_KINDS if area else HANDLING_KINDS
    if unit.kind not in allowed:
        key = "cases.error.rule_area_kind" if area else "cases.error.dispatch_unit_kind"
        raise ValidationFailed(key, unit=code, kind=unit.kind)
    return unit


def list_rules(session: Session) -> Sequence[RoutingRule]:
    stmt = select(RoutingRule).order_by(RoutingRule.category_id, RoutingRule.area_id, RoutingRule.id)
    return session.execute(stmt).unique().scalars().all()


def get_rule(session: Session, *, rule_id: int) -> RoutingRule:
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound("cases.error.rule_not_found", ref=rule_id)
    return rule


def create_rule(
    session: Session,
    *,
    actor: Actor,
    unit: str,
    category: str | None = None,
    area: str | None = None,
    priority: int = 0,
    note: str | None = None,
) -> RoutingRule:
    if category is None and area is None:
        raise ValidationFailed("cases.error.rule_too_broad")
    rule = RoutingRule(
        category_id=_category_id(session, category),
        area_id=_unit(session, area, area=True).id if area else None,
        unit_id=_unit(session, unit, area=False).id,
        priority=priority,
        note=note,
    )
    session.add(rule)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="case_routing_rule",
        entity_id=rule.id,
        after=audit.snapshot(rule),
    )
    return rule


def _category_id(session: Session, code: str | None) -> int | None:
    if code is None:
        return None
    try:
        return get_by_code(session, code=code).id
    except NotFound as exc:
        raise ValidationFailed("cases.error.category_unknown", category=code) from exc


def update_rule(
    session: Session, *, actor: Actor, rule: RoutingRule, version: int, **changes: Any
) -> RoutingRule:
    """Change a rule; ``version`` is the one the caller read (stale → 409)."""
    if version != rule.version:
        raise Conflict("error.stale_version", current=rule.version, error_code="stale_version")
    before = audit.snapshot(rule)
    if "unit" in changes:
        rule.unit_id = _unit(session, changes.pop("unit"), area=False).id
    if "category" in changes:
        rule.category_id = _category_id(session, changes.pop("category"))
    if "area" in changes:
        area = changes.pop("area")
        rule.area_id = _unit(session, area, area=True).id if area else None
    for key, value in changes.items():
        if key not in {"priority", "active", "note"}:
            raise ValidationFailed("error.unknown_field", field=key)
        setattr(rule, key, value)
    if rule.category_id is None and rule.area_id is None:
        raise ValidationFailed("cases.error.rule_too_broad")
    session.flush()
    session.refresh(rule)
    audit.record(
        session,
        actor=actor,
        action="update",
        entity_type="case_routing_rule",
        entity_id=rule.id,
        before=before,
        after=audit.snapshot(rule),
    )
    return rule
