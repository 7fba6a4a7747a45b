"""The hand-off from a warning to the case loop, behind a small Protocol.

The twin never creates cases itself (ARCHITECTURE: ``twin`` creates cases only through
``cases.service``). Two bridges:

- :class:`CasesServiceBridge` (installed by ``cityloop.bridges.install`` in the app, the worker and
  the CLI): one case per warning in the unified queue — source ``sensor``, ``source_ref``
  ``twin-warning:<id>``, the category of the network/sensor kind, registered and dispatched to the
  network's operator unit, the impact plan in the case's ``attributes["impact_plan"]`` and summarised
  in a staff note on its timeline. The case's tracking number is stored on the warning (``case_ref``).
  With it comes a close guard: ``verify_pass``/``close`` of such a case is refused (409
  ``sensors_not_normal``) until :func:`sensors_normal_since` holds.
- :class:`CaseRequestBridge` (the fallback when nothing is installed): a *case request* (status
  ``pending``) in ``twin_case_requests``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.cases.models import Case
from cityloop.config import get_settings
from cityloop.core import audit
from cityloop.core.clock import now
from cityloop.core.errors import Conflict, ValidationFailed
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


# Sensor categories of the case taxonomy: CJ/T 214 has no "monitoring alarm" events, so they are a
# local scheme (codes ``SJ09xx@JLP-TWIN``), created on first use when a district's taxonomy lacks them.
SENSOR_SCHEME = "JLP-TWIN"
SENSOR_MAJOR = ("09", "管网监测预警")
# network kind → (minor code, name, English name, operator unit code used as the category's handler)
SENSOR_CATEGORIES: dict[str, tuple[str, str, str, str]] = {
    "water": ("0901", "供水管网压力异常", "Water network pressure anomaly", "util-water"),
    "drainage": ("0902", "排水内涝", "Drainage flooding", "util-drain"),
    "gas": ("0903", "燃气泄漏", "Gas leak", "util-gas"),
}
# Without a network the sensor's own kind decides.
SENSOR_KIND_NETWORK = {"gas_concentration": "gas", "rainfall": "drainage", "water_level": "drainage"}
SOURCE_REF = "twin-warning:"
IDEMPOTENCY_OWNER = "twin:warnings"
ACTOR = audit.Actor("twin-case-bridge")


def category_code(kind: str) -> str:
    from cityloop.cases.categories import category_code as code_of

    return code_of("event", SENSOR_CATEGORIES[kind][0], SENSOR_SCHEME)


def network_kind(warning: TwinWarning) -> str:
    sensor = warning.sensor
    if sensor.network is not None and sensor.network.kind in SENSOR_CATEGORIES:
        return str(sensor.network.kind)
    return SENSOR_KIND_NETWORK.get(sensor.kind, "water")


def ensure_categories(session: Session) -> int:
    """Create the sensor categories missing from the taxonomy (and whose handler unit exists)."""
    from cityloop.cases import categories
    from cityloop.org.models import Unit as OrgUnit

    created = 0
    for order, (kind, (minor, name, name_en, unit_code)) in enumerate(SENSOR_CATEGORIES.items()):
        code = category_code(kind)
        if _category_exists(session, code):
            continue
        has_unit = session.execute(select(OrgUnit.id).where(OrgUnit.code == unit_code)).first()
        handler = {"handler": "department", "handler_unit": unit_code} if has_unit else {"handler": "manual"}
        categories.create_category(
            session,
            actor=ACTOR,
            kind="事件",
            major_code=SENSOR_MAJOR[0],
            major_name=SENSOR_MAJOR[1],
            minor_code=minor,
            name=name,
            name_en=name_en,
            scheme=SENSOR_SCHEME,
            deadlines={
                "normal": {
                    "register_minutes": 10,
                    "dispatch_minutes": 10,
                    "handle_hours": 4,
                    "verify_hours": 24,
                },
                "urgent": {"handle_hours": 2, "verify_hours": 4},
            },
            working_hours=False,
            duplicate_radius_m=300,
            duplicate_window_hours=24,
            sort_order=900 + order,
            source="cityloop twin (local scheme: sensor warnings)",
            **handler,
        )
        created += 1
    return created


def _category_exists(session: Session, code: str) -> bool:
    from cityloop.cases.models import Category

    return session.execute(select(Category.id).where(Category.code == code)).first() is not None


def _plan_summary(plan: dict[str, Any] | None, error: str | None) -> str:
    """A few lines of the impact plan for the case's timeline (the full plan is in its attributes)."""
    if plan is None:
        return translate("twin.case.plan_missing", "zh-CN", error=error or "-")
    parts = [
        translate("twin.case.plan_kind", "zh-CN", kind=translate(f"twin.kind.{plan.get('kind')}", "zh-CN"))
    ]
    for key in (
        "valves",
        "customers_cut_off",
        "critical_facilities",
        "flooded",
        "below_minimum",
        "leak_candidates",
    ):
        value = plan.get(key)
        count = len(value) if isinstance(value, list | dict) else value if isinstance(value, int) else 0
        if count:
            parts.append(translate(f"twin.case.plan_{key}", "zh-CN", count=count))
    return "；".join(parts)


class CasesServiceBridge:
    """One case in the unified queue per warning, dispatched to the network's operator unit."""

    def open_case_for_warning(
        self, session: Session, warning: TwinWarning, impact_plan: dict[str, Any] | None
    ) -> str:
        from cityloop.cases import service
        from cityloop.cases.states import State

        key = f"warning:{warning.id}"
        existing = service.find_idempotent(session, owner=IDEMPOTENCY_OWNER, key=key)
        if existing is not None:
            case = session.get(Case, existing.case_id)
            assert case is not None
            return case.tracking_no
        kind = network_kind(warning)
        code = category_code(kind)
        if not _category_exists(session, code):
            ensure_categories(session)
        sensor = warning.sensor
        unit = routed_unit(session, warning)
        level = translate(f"twin.level.{warning.level}", "zh-CN")
        title = translate(
            "twin.case.title",
            "zh-CN",
            level=level,
            sensor=sensor.name or sensor.code,
            cause=translate(f"twin.cause.{warning.cause}", "zh-CN"),
        )
        where = sensor.network.title or sensor.network.name if sensor.network is not None else sensor.code
        description = translate(
            "twin.case.description",
            "zh-CN",
            title=title,
            message=warning.message,
            value="-" if warning.last_value is None else f"{warning.last_value:g}",
            opened=warning.opened_at.isoformat(),
            network=where,
        )[: service.MAX_DESCRIPTION]
        attributes = {
            "twin": {
                "warning_id": warning.id,
                "sensor": sensor.code,
                "network": sensor.network.name if sensor.network is not None else None,
                "cause": warning.cause,
                "level": warning.level,
            },
            "impact_plan": impact_plan,
            "impact_error": warning.impact_error,
        }
        report = service.NewCase(
            category=code,
            description=description,
            lon=sensor.lon,
            lat=sensor.lat,
            address=f"{where} · {sensor.name or sensor.code}",
            urgency="emergency" if warning.level == "red" else "urgent",
            source="sensor",
            source_ref=f"{SOURCE_REF}{warning.id}",
            reporter_name=translate("twin.case.reporter", "zh-CN"),
            attributes=attributes,
        )
        try:  # intake checks everything before it writes anything
            result = service.intake(
                session, actor=ACTOR, report=report, idempotency_key=key, idempotency_owner=IDEMPOTENCY_OWNER
            )
        except ValidationFailed as exc:
            if getattr(exc, "code", "") != "outside_district":
                raise
            # A model placed outside the district's polygons: the case still opens, by address.
            report.lon = report.lat = None
            result = service.intake(
                session, actor=ACTOR, report=report, idempotency_key=key, idempotency_owner=IDEMPOTENCY_OWNER
            )
        case = result.case
        if case.state == State.reported:
            service.apply_action(
                session,
                actor=ACTOR,
                case=case,
                action="register",
                data=service.ActionInput(version=case.version),
            )
            service.apply_action(
                session,
                actor=ACTOR,
                case=case,
                action="dispatch",
                data=service.ActionInput(
                    version=case.version,
                    unit=unit.code,
                    note=translate("twin.case.dispatch_note", "zh-CN", unit=unit.name),
                ),
            )
        service.apply_action(
            session,
            actor=ACTOR,
            case=case,
            action="note",
            data=service.ActionInput(
                version=case.version, note=_plan_summary(impact_plan, warning.impact_error)
            ),
        )
        return case.tracking_no


def case_of_warning(session: Session, warning: TwinWarning) -> Case | None:
    """The case the unified queue holds for the warning (None with the fallback bridge)."""
    return session.execute(
        select(Case).where(Case.source == "sensor", Case.source_ref == f"{SOURCE_REF}{warning.id}")
    ).scalar_one_or_none()


def warning_of_case(session: Session, case: Case) -> TwinWarning | None:
    """The warning a sensor case was opened for (None for other cases)."""
    ref = case.source_ref or ""
    if not ref.startswith(SOURCE_REF):
        return None
    try:
        warning_id = int(ref[len(SOURCE_REF) :])
    except ValueError:
        return None
    return session.get(TwinWarning, warning_id)


def close_guard(session: Session, case: Case) -> None:
    """Refuse verification/closure of a warning's case until its sensors have been normal long enough."""
    warning = warning_of_case(session, case)
    if warning is None:
        return
    if not sensors_normal_since(session, warning):
        minutes = normal_minutes(warning)
        raise Conflict(
            "twin.case.sensors_not_normal",
            error_code="sensors_not_normal",
            sensor=warning.sensor.code,
            minutes=f"{minutes:g}",
            details={
                "warning_id": warning.id,
                "sensor": warning.sensor.code,
                "warning_status": warning.status,
                "normal_minutes": minutes,
            },
        )


def install() -> None:
    """Wire the twin to the unified case queue (app start, worker, CLI)."""
    from cityloop.cases import workflow

    set_bridge(CasesServiceBridge())
    workflow.set_close_guard("sensor", close_guard)


def uninstall() -> None:
    from cityloop.cases import workflow

    set_bridge(None)
    workflow.set_close_guard("sensor", None)


_bridge: CaseBridge = CaseRequestBridge()


def set_bridge(bridge: CaseBridge | None) -> None:
    """Install the case queue's bridge (``None`` restores the in-process case requests)."""
    global _bridge
    _bridge = bridge if bridge is not None else CaseRequestBridge()


def open_case_for_warning(session: Session, warning: TwinWarning, impact_plan: dict[str, Any] | None) -> str:
    return _bridge.open_case_for_warning(session, warning, impact_plan)


def _rule(warning: TwinWarning) -> Any:
    sensor: Sensor = warning.sensor
    rules_file = get_settings().twin_rules_file
    rules = rules_for(sensor.kind, sensor.rules, str(rules_file) if rules_file else None)
    return rules.get(warning.cause)


def normal_minutes(warning: TwinWarning) -> float:
    """How long the sensor must read normal before the warning's case may be verified closed."""
    rule = _rule(warning)
    return float(rule.resolve_after_min) if rule and rule.resolve_after_min > 0 else DEFAULT_NORMAL_MINUTES


def sensors_normal_since(session: Session, warning: TwinWarning) -> bool:
    """True when the warning's sensor has been normal for the configured time: the warning is no
    longer open, no other warning of the sensor is open at orange or above, and every reading of
    the last N minutes (N = the cause's ``resolve_after_min``, at least one reading) is normal.
    The cases loop calls this before a sensor case may be verified closed."""
    if warning.status == WarningStatus.open:
        return False
    sensor: Sensor = warning.sensor
    rule = _rule(warning)
    minutes = normal_minutes(warning)
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
