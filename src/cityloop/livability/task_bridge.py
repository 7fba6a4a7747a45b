"""One click from a chosen site to a task in the "15分钟高品质生活服务圈" action.

Tasks belong to the programme domain. This module talks to it only through the small
:class:`TaskBridge` Protocol; until the lead wires the programme implementation in, the
:class:`ProposalBridge` records a task proposal in this domain's own table, which the programme
domain can adopt later (it sets ``task_ref``). The bridge in use is chosen by :func:`get_bridge`.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.errors import Conflict
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


class ProposalBridge:
    """Records the proposal in ``livability_task_proposals`` (one per site)."""

    def propose_task(
        self, session: Session, *, site: PlanSite, facility_type: FacilityType, actor: Any
    ) -> str:
        existing = session.execute(
            select(TaskProposal).where(TaskProposal.plan_site_id == site.id)
        ).scalar_one_or_none()
        if existing is not None:
            raise Conflict("livability.task.exists", reference=existing.reference)
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
