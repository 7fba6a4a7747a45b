"""The hand-off from a warning to the case loop, behind a small Protocol.

The twin never creates cases itself (ARCHITECTURE: ``twin`` creates cases only through
``cases.service``). Until the unified queue is wired in, :class:`CaseRequestBridge` records a
*case request* (status ``pending``) in ``twin_case_requests``: source = sensor, routed to the
network's operator unit, the impact plan attached. Wiring the real queue is one class::

    class CasesServiceBridge:
        def open_case_for_warning(self, session, warning, impact_plan):
            case = cases.service.create_case(session, actor=..., source="sensor",
                                             unit=routed_unit(session, warning), ...,
                                             attachments={"impact_plan": impact_plan})
            return case.reference

    case_bridge.set_bridge(CasesServiceBridge())

and the cases loop calls :func:`sensors_normal_since` before letting such a case be verified closed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.config import get_settings
from cityloop.core import audit
from cityloop.core.clock import now
from cityloop.core.i18n import translate
from cityloop.org.models import Unit
from cityloop.twin.models import CaseRequest, Reading, Sensor, TwinWarning, WarningStatus
from cityloop.twin.rules import level_of, rules_for

DEFAULT_NORMAL_MINUTES = 10.0


class CaseBridge(Protocol):
    def open_case_for_warning(
        self, session: Session, warning: TwinWarning, impact_plan: dict[str, Any] | None
    ) -> str:
        """Open (or request) a case for the warning; returns its reference."""
        ...


def routed_unit(session: Session, warning: TwinWarning) -> Unit:
    """The operator unit that owns the warning's network (else the sensor's own unit)."""
    sensor = warning.sensor
    if sensor.network is not None:
        return sensor.network.unit
    return sensor.unit


class CaseRequestBridge:
    """In-process: one pending case request per warning, in the twin's own table."""

    def open_case_for_warning(
        self, session: Session, warning: TwinWarning, impact_plan: dict[str, Any] | None
    ) -> str:
        existing = session.execute(
            select(CaseRequest).where(CaseRequest.warning_id == warning.id)
        ).scalar_one_or_none()
        if existing is not None:
            return f"twin-case-request:{existing.id}"
        sensor = warning.sensor
        unit = routed_unit(session, warning)
        request = CaseRequest(
            warning_id=warning.id,
            unit_id=unit.id,
            source="sensor",
            source_ref=sensor.code,
            level=warning.level,
            title=translate(
                "twin.case.title",
                "zh-CN",
                level=translate(f"twin.level.{warning.level}", "zh-CN"),
                sensor=sensor.name or sensor.code,
                cause=translate(f"twin.cause.{warning.cause}", "zh-CN"),
            ),
            lon=sensor.lon,
            lat=sensor.lat,
            impact=impact_plan,
            status="pending",
        )
        session.add(request)
        session.flush()
        audit.record(
            session,
            actor=audit.Actor("twin-case-bridge"),
            action="create",
            entity_type="twin_case_request",
            entity_id=request.id,
            after=audit.snapshot(request, exclude={"impact"}),
        )
        return f"twin-case-request:{request.id}"


_bridge: CaseBridge = CaseRequestBridge()


def set_bridge(bridge: CaseBridge | None) -> None:
    """Install the case queue's bridge (``None`` restores the in-process case requests)."""
    global _bridge
    _bridge = bridge if bridge is not None else CaseRequestBridge()


def open_case_for_warning(session: Session, warning: TwinWarning, impact_plan: dict[str, Any] | None) -> str:
    return _bridge.open_case_for_warning(session, warning, impact_plan)


def sensors_normal_since(session: Session, warning: TwinWarning) -> bool:
    """True when the warning's sensor has been normal for the configured time: the warning is no
    longer open, no other warning of the sensor is open at orange or above, and every reading of
    the last N minutes (N = the cause's ``resolve_after_min``, at least one reading) is normal.
    The cases loop calls this before a sensor case may be verified closed."""
    if warning.status == WarningStatus.open:
        return False
    sensor: Sensor = warning.sensor
    rules_file = get_settings().twin_rules_file
    rules = rules_for(sensor.kind, sensor.rules, str(rules_file) if rules_file else None)
    rule = rules.get(warning.cause)
    minutes = rule.resolve_after_min if rule and rule.resolve_after_min > 0 else DEFAULT_NORMAL_MINUTES
    at = now()
    others = session.execute(
        select(TwinWarning.level).where(
            TwinWarning.sensor_id == sensor.id, TwinWarning.status == WarningStatus.open
        )
    ).scalars()
    if any(level in ("orange", "red") for level in others):
        return False
    values = (
        session.execute(
            select(Reading.value).where(
                Reading.sensor_id == sensor.id, Reading.ts >= at - timedelta(minutes=minutes)
            )
        )
        .scalars()
        .all()
    )
    if not values:
        return False
    if rule is not None and rule.cause in ("high", "low"):
        return all(level_of(rule, v, hold=True) is None for v in values)
    return True
