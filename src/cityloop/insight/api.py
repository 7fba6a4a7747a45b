"""JSON API for case intelligence under /api/v1/insight/: suggestions and triage, classifier versions,
hotspots, demand → action proposals, and the before/after of a task's place."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from cityloop.config import get_settings
from cityloop.core.http import DB, CurrentPrincipal
from cityloop.core.schemas import API_ERRORS
from cityloop.core.validation import Id, Int
from cityloop.insight import permissions as perm
from cityloop.insight import registry, service
from cityloop.insight.models import CaseInsight, InsightHotspot, InsightModel, InsightProposal
from cityloop.insight.schemas import (
    AcceptIn,
    ActivateIn,
    BeforeAfterOut,
    DismissIn,
    HotspotOut,
    ModelOut,
    ModelsOut,
    ProposalOut,
    RetrainIn,
    SuggestionOut,
)

ERRORS = API_ERRORS  # one map for every router (core.schemas)
router = APIRouter(prefix="/api/v1/insight", tags=["insight"], responses=ERRORS)


def suggestion_out(case: Any, row: CaseInsight | None) -> SuggestionOut:
    threshold = get_settings().insight_prefill_confidence
    return SuggestionOut(
        case_id=case.id,
        tracking_no=case.tracking_no,
        reported_category=case.category.code,
        suggested_category=row.suggested_code if row else None,
        confidence=row.confidence if row else 0.0,
        model_version=row.model_version if row else 0,
        triage=row.triage if row else "manual",
        prefill=bool(row and row.triage == "prefilled"),
        threshold=threshold,
    )


@router.get("/cases/{case_id}/suggestion", response_model=SuggestionOut)
def case_suggestion(case_id: Id, db: DB, principal: CurrentPrincipal) -> SuggestionOut:
    """The suggested category of a case; ``prefill`` true means the dispatcher's form starts with it."""
    case, row = service.suggestion_for(db, principal=principal, case_id=case_id)
    return suggestion_out(case, row)


@router.get("/triage", response_model=list[SuggestionOut])
def triage(
    db: DB, principal: CurrentPrincipal, limit: Annotated[Int, Query(ge=1, le=500)] = 100
) -> list[SuggestionOut]:
    """New cases whose suggestion was below the threshold: manual triage."""
    return [suggestion_out(c, i) for c, i in service.triage_queue(db, principal=principal, limit=limit)]


def model_out(m: InsightModel) -> ModelOut:
    return ModelOut.model_validate(m)


def models_out(db: DB) -> ModelsOut:
    rows = registry.list_models(db)
    active = next((m.version for m in rows if m.active), 0)
    threshold = get_settings().insight_prefill_confidence
    return ModelsOut(active_version=active, threshold=threshold, models=[model_out(m) for m in rows])


@router.get("/models", response_model=ModelsOut)
def models(db: DB, principal: CurrentPrincipal) -> ModelsOut:
    """Classifier versions, newest first, and the one intake uses (0 = keyword rules)."""
    principal.require(perm.MODELS_READ)
    return models_out(db)


@router.post("/models/activate", response_model=ModelsOut)
def activate(body: ActivateIn, db: DB, principal: CurrentPrincipal) -> ModelsOut:
    """Make a version the one intake uses (0: keyword rules). Processes switch within seconds."""
    principal.require(perm.MODELS_MANAGE)
    registry.activate_version(db, actor=principal, version=body.version)
    db.commit()
    return models_out(db)


@router.post("/models/retrain", response_model=ModelOut, status_code=201)
def retrain(body: RetrainIn, db: DB, principal: CurrentPrincipal) -> ModelOut:
    """Train a new version from the closed cases (stored; active only when asked)."""
    principal.require(perm.MODELS_MANAGE)
    row = registry.retrain(db, actor=principal, activate=body.activate)
    db.commit()
    return model_out(row)


def hotspot_out(h: InsightHotspot, codes: dict[int, str]) -> HotspotOut:
    return HotspotOut(
        id=h.id,
        key=h.key,
        rank=h.rank,
        heat=h.heat,
        place=h.place,
        lon=h.lon,
        lat=h.lat,
        located_by=h.located_by,
        category=codes.get(h.category_id) if h.category_id else None,
        street_id=h.street_id,
        summary=h.summary,
        reports=h.reports,
        days=h.days,
        support=h.support,
        start=h.start,
        end=h.end,
        members=list(h.members),
        refreshed_at=h.refreshed_at,
    )


def category_codes(db: DB) -> dict[int, str]:
    from sqlalchemy import select

    from cityloop.cases.models import Category

    return {i: c for i, c in db.execute(select(Category.id, Category.code))}


@router.get("/hotspots", response_model=list[HotspotOut])
def hotspots(
    db: DB, principal: CurrentPrincipal, limit: Annotated[Int, Query(ge=1, le=1000)] = 100
) -> list[HotspotOut]:
    """The latest hotspot ranking (rebuilt by the worker), within the account's scope."""
    codes = category_codes(db)
    return [hotspot_out(h, codes) for h in service.list_hotspots(db, principal=principal, limit=limit)]


def proposal_out(p: InsightProposal) -> ProposalOut:
    return ProposalOut(
        id=p.id,
        action_code=p.action.code,
        action_name=p.action.name,
        place=p.place,
        lon=p.lon,
        lat=p.lat,
        heat=p.heat,
        reports=p.reports,
        summary=p.summary,
        state=p.state,
        task_id=p.task_id,
        reason=p.reason,
        decided_by=p.decided_by,
        decided_at=p.decided_at,
        version=p.version,
    )


@router.get("/proposals", response_model=list[ProposalOut])
def proposals(db: DB, principal: CurrentPrincipal, state: str | None = None) -> list[ProposalOut]:
    """Tasks proposed by hotspots, for the office (all) or an action's task force (its own)."""
    return [proposal_out(p) for p in service.list_proposals(db, principal=principal, state=state)]


@router.post("/proposals/{proposal_id}/accept", response_model=ProposalOut)
def accept(proposal_id: Id, body: AcceptIn, db: DB, principal: CurrentPrincipal) -> ProposalOut:
    """Accept: a "一点一策" task in the action's list, at the hotspot's place."""
    service.accept(
        db,
        principal=principal,
        proposal_id=proposal_id,
        data=service.AcceptInput(
            version=body.version,
            responsible_unit=body.responsible_unit,
            responsible_person_id=body.responsible_person_id,
            due_on=body.due_on,
            name=body.name,
        ),
    )
    db.commit()
    return proposal_out(service.get_proposal(db, principal=principal, proposal_id=proposal_id))


@router.post("/proposals/{proposal_id}/dismiss", response_model=ProposalOut)
def dismiss(proposal_id: Id, body: DismissIn, db: DB, principal: CurrentPrincipal) -> ProposalOut:
    row = service.dismiss(
        db, principal=principal, proposal_id=proposal_id, version=body.version, reason=body.reason
    )
    db.commit()
    return proposal_out(row)


@router.get("/tasks/{task_id}/before-after", response_model=BeforeAfterOut)
def before_after(
    task_id: Id, db: DB, principal: CurrentPrincipal, weeks: Annotated[Int, Query(ge=1, le=52)] = 12
) -> BeforeAfterOut:
    """Reports per week at the task's place (same categories), before and after its acceptance."""
    return BeforeAfterOut.model_validate(
        service.before_after(db, principal=principal, task_id=task_id, weeks=weeks)
    )
