"""One click from a chosen site to a task in the "15分钟高品质生活服务圈" action.

Tasks belong to the programme domain; this module reaches it only through ``programme.service``
behind the small :class:`TaskBridge` Protocol. Two implementations:

- :class:`ProgrammeTaskBridge` (installed by ``cityloop.bridges.install`` in the app, the worker and
  the CLI): a real programme task in the current programme's action whose special task force is
  ``tf-shq`` — responsible unit the site's street/town, responsible person the unit's first active
  person (422 when it has none), milestones 选址确认 → 建设 → 验收, the site as its place, the siting
  figures as its target and 一点一策 text. The ``livability_task_proposals`` row links site and task
  (``reference`` = the task code, ``task_ref`` = ``programme-task:<id>``): one task per site, a
  second click is a 409 naming the task.
- :class:`ProposalBridge` (fallback): only the proposal row (``LV-TP-…``), no task.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.clock import now, to_display
from cityloop.core.errors import Conflict, NotFound, ValidationFailed
from cityloop.core.i18n import translate
from cityloop.core.permissions import Principal
from cityloop.livability.models import FacilityType, PlanSite, TaskProposal

# The action's task force in the demo organisation (org.demo.ACTIONS); data, not logic.
ACTION_CODE = "tf-shq"


class TaskBridge(Protocol):
    def propose_task(
        self, session: Session, *, site: PlanSite, facility_type: FacilityType, actor: Any
    ) -> str:
        """Open (or propose) a task for building ``facility_type`` at ``site``; return its reference."""
        ...


def _texts(site: PlanSite, facility_type: FacilityType) -> tuple[str, str]:
    title = translate(
        "livability.task.title", "zh-CN", type=facility_type.name, site=site.name, street=site.unit.name
    )
    cov = site.plan.coverage
    detail = translate(
        "livability.task.detail",
        "zh-CN",
        type=facility_type.name,
        minutes=f"{site.plan.minutes:g}",
        population=site.added_population,
        elderly=site.added_elderly,
        before=f"{cov['population_before']:.0f}",
        after=f"{cov['population_after']:.0f}",
        lon=f"{site.lon:.6f}",
        lat=f"{site.lat:.6f}",
        plan=site.plan_id,
        rank=site.rank,
    )
    return title, detail


def _refuse_a_second_proposal(session: Session, site: PlanSite) -> None:
    """One proposal per chosen site, whichever bridge made it: 409 naming the one already made."""
    existing = session.execute(
        select(TaskProposal).where(TaskProposal.plan_site_id == site.id)
    ).scalar_one_or_none()
    if existing is not None:
        raise Conflict(
            "livability.task.exists",
            reference=existing.reference,
            details={"reference": existing.reference, "task": existing.task_ref},
        )


class ProposalBridge:
    """Records the proposal in ``livability_task_proposals`` (one per site)."""

    def propose_task(
        self, session: Session, *, site: PlanSite, facility_type: FacilityType, actor: Any
    ) -> str:
        _refuse_a_second_proposal(session, site)
        title, detail = _texts(site, facility_type)
        row = TaskProposal(
            plan_site_id=site.id,
            facility_type_code=facility_type.code,
            action_code=ACTION_CODE,
            title=title[:300],
            detail=detail,
            unit_id=site.unit_id,
            reference="pending",
            created_by=actor.username if isinstance(actor, Principal) else getattr(actor, "name", "system"),
            created_by_user_id=actor.user_id if isinstance(actor, Principal) else None,
        )
        session.add(row)
        session.flush()
        row.reference = f"LV-TP-{row.id:05d}"
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="propose_task",
            entity_type="task_proposal",
            entity_id=row.id,
            after=audit.snapshot(row),
        )
        return row.reference


# The plan of a new facility (days after the click, planned progress %, deliverable): data a district
# may edit.
MILESTONES: tuple[tuple[str, int, float, str], ...] = (
    ("选址确认", 30, 20.0, "选址确认书、产权/租用协议"),
    ("建设", 150, 80.0, "施工完成、设备到位"),
    ("验收", 180, 100.0, "竣工验收记录、投用照片"),
)


def _actor_name(actor: Any) -> tuple[str, int | None]:
    if isinstance(actor, Principal):
        return actor.username, actor.user_id
    return getattr(actor, "name", "system"), None


def find_action(session: Session) -> Any:
    """The action of the current programme whose special task force is ``tf-shq`` (or coded so)."""
    from cityloop.org.models import Unit
    from cityloop.programme import service as programme
    from cityloop.programme.models import Action

    current = programme.get_programme(session)
    taskforce = select(Unit.id).where(Unit.code == ACTION_CODE)
    action = (
        session.execute(
            select(Action)
            .where(Action.programme_id == current.id, Action.taskforce_unit_id.in_(taskforce))
            .order_by(Action.seq)
            .limit(1)
        )
        .scalars()
        .first()
    )
    if action is None:
        action = session.execute(
            select(Action).where(Action.programme_id == current.id, Action.code == ACTION_CODE)
        ).scalar_one_or_none()
    if action is None:
        raise NotFound("livability.task.no_action", taskforce=ACTION_CODE, programme=current.name)
    return action


def responsible_person(session: Session, unit: Any) -> Any:
    """The unit's first active person (by id), else the first one below it; 422 when there is none."""
    from cityloop.org.models import Person, Unit

    own = select(Person).where(Person.unit_id == unit.id, Person.active.is_(True)).order_by(Person.id)
    person = session.execute(own.limit(1)).scalars().first()
    if person is None:
        below = (
            select(Person)
            .join(Unit, Unit.id == Person.unit_id)
            .where(Unit.path.startswith(unit.path), Person.active.is_(True))
            .order_by(Unit.path, Person.id)
        )
        person = session.execute(below.limit(1)).scalars().first()
    if person is None:
        raise ValidationFailed(
            "livability.task.no_person", error_code="no_responsible_person", unit=unit.name
        )
    return person


class ProgrammeTaskBridge:
    """A programme task in the 15-minute-circle action, one per chosen site."""

    def propose_task(
        self, session: Session, *, site: PlanSite, facility_type: FacilityType, actor: Any
    ) -> str:
        from cityloop.programme import service as programme
        from cityloop.programme.plans import MilestoneInput, TaskInput

        _refuse_a_second_proposal(session, site)
        action = find_action(session)
        unit = site.unit
        person = responsible_person(session, unit)
        title, detail = _texts(site, facility_type)
        today = to_display(now()).date()  # type: ignore[union-attr]
        milestones = [
            MilestoneInput(name, today + timedelta(days=days), pct, deliverable)
            for name, days, pct, deliverable in MILESTONES
        ]
        data = TaskInput(
            name=title[:200],
            indicator=translate("livability.task.indicator", "zh-CN", type=facility_type.name)[:80],
            indicator_unit=translate("livability.task.indicator_unit", "zh-CN")[:20],
            baseline=0.0,
            target_value=1.0,
            responsible_unit=unit,
            responsible_person=person,
            starts_on=today,
            due_on=milestones[-1].due_on,
            milestones=milestones,
            target=detail,
            place={"type": "Point", "coordinates": [site.lon, site.lat]},
            site_plan=detail,
        )
        task = programme.create_task(session, actor=actor, principal=None, action=action, data=data)
        name, user_id = _actor_name(actor)
        row = TaskProposal(
            plan_site_id=site.id,
            facility_type_code=facility_type.code,
            action_code=ACTION_CODE,
            title=title[:300],
            detail=detail,
            unit_id=site.unit_id,
            status="created",
            reference=task.code,
            task_ref=f"programme-task:{task.id}",
            created_by=name,
            created_by_user_id=user_id,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="create_task",
            entity_type="task_proposal",
            entity_id=row.id,
            after=audit.snapshot(row),
        )
        return task.code


_bridge: TaskBridge = ProposalBridge()


def get_bridge() -> TaskBridge:
    return _bridge


def set_bridge(bridge: TaskBridge | None) -> None:
    """Install the programme domain's bridge (or restore the proposal recorder with None)."""
    global _bridge
    _bridge = bridge if bridge is not None else ProposalBridge()


def propose_task(session: Session, *, site: PlanSite, facility_type: FacilityType, actor: Any) -> str:
    """The one-click entry point used by the API, the page and the CLI."""
    return get_bridge().propose_task(session, site=site, facility_type=facility_type, actor=actor)


def install() -> None:
    """Install the programme bridge (app start, worker, CLI)."""
    set_bridge(ProgrammeTaskBridge())
