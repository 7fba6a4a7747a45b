"""Classifier versions in the database: register a model file, activate one, train from closed cases.

Activating a version only flips ``active`` flags; every process notices within a few seconds and loads
it once (``insight.intake``). A version is checked before it is stored (it must load and name at least
one active category), so a bad file is refused here rather than discovered at intake — and should one
still fail at intake, intake falls back to keyword rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cityloop.cases import categories
from cityloop.cases.models import Case
from cityloop.core import audit
from cityloop.core.clock import now
from cityloop.core.errors import NotFound, ValidationFailed
from cityloop.core.permissions import Principal
from cityloop.insight import modelfile
from cityloop.insight.classifier import LinearClassifier
from cityloop.insight.features import CategoryPrior
from cityloop.insight.models import InsightModel
from cityloop.insight.training import train

Actor = Principal | audit.Actor | None
MAX_TRAINING_CASES = 50_000


def _actor_name(actor: Actor) -> str:
    if isinstance(actor, Principal):
        return actor.username
    return getattr(actor, "name", None) or "system"


def list_models(session: Session) -> Sequence[InsightModel]:
    return session.execute(select(InsightModel).order_by(InsightModel.version.desc())).scalars().all()


def active_model(session: Session) -> InsightModel | None:
    stmt = select(InsightModel).where(InsightModel.active.is_(True)).limit(1)
    return session.execute(stmt).scalar_one_or_none()


def get_model(session: Session, *, version: int) -> InsightModel:
    row = session.execute(select(InsightModel).where(InsightModel.version == version)).scalar_one_or_none()
    if row is None:
        raise NotFound("insight.error.model_not_found", version=version)
    return row


def register(
    session: Session,
    *,
    actor: Actor,
    data: bytes,
    source: str,
    file_path: str | None = None,
    activate: bool = False,
) -> InsightModel:
    """Store a model file's bytes as the next version (checked: it loads and fits the categories)."""
    model = modelfile.loads(data, name=source)
    header = modelfile.header_of(data, name=source)
    leaves = categories.leaves(session)
    if not any(c in leaves for c in model.classes):
        raise ValidationFailed("insight.error.model_categories", classes=", ".join(model.classes[:5]))
    version = int(session.scalar(select(func.max(InsightModel.version))) or 0) + 1
    row = InsightModel(
        version=version,
        kind=model.kind,
        trained_at=now(),
        source=source[:300],
        metrics=header.get("training") or {},
        classes=list(model.classes),
        active=False,
        file_path=file_path,
        blob=data,
        created_by=_actor_name(actor),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="insight.model.register",
        entity_type="insight_model",
        entity_id=row.id,
        after=audit.snapshot(row, exclude={"blob"}),
    )
    if activate:
        activate_version(session, actor=actor, version=version)
    return row


def activate_version(session: Session, *, actor: Actor, version: int) -> InsightModel | None:
    """Make ``version`` the one intake uses; version 0 means keyword rules (no model active)."""
    before = active_model(session)
    row = get_model(session, version=version) if version else None
    if row is not None and row.blob is None and not (row.file_path and Path(row.file_path).is_file()):
        raise ValidationFailed("insight.error.model_file_gone", version=version)
    session.execute(update(InsightModel).where(InsightModel.active.is_(True)).values(active=False))
    if row is not None:
        row.active = True
        row.activated_at = now()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="insight.model.activate",
        entity_type="insight_model",
        entity_id=row.id if row else 0,
        before={"active_version": before.version if before else 0},
        after={"active_version": version},
    )
    return row


def closed_cases(session: Session, *, limit: int = MAX_TRAINING_CASES) -> tuple[list[str], list[str]]:
    """(descriptions, category codes) of closed cases with text, newest first."""
    from cityloop.cases.models import Category

    stmt = (
        select(Case.description, Category.code)
        .join(Category, Category.id == Case.category_id)
        .where(Case.state == "closed", Case.description != "", Category.active.is_(True))
        .order_by(Case.closed_at.desc())
        .limit(limit)
    )
    rows = session.execute(stmt).all()
    return [r[0] for r in rows], [r[1] for r in rows]


def category_prior(session: Session) -> CategoryPrior:
    leaves = categories.leaves(session)
    return CategoryPrior({code: [leaf.name, leaf.major_name] for code, leaf in leaves.items()})


def train_from_db(session: Session) -> tuple[LinearClassifier, dict[str, Any]]:
    """A classifier trained on the district's closed cases, with the category names as prior."""
    texts, labels = closed_cases(session)
    if not texts:
        raise ValidationFailed("insight.error.no_closed_cases")
    model = train(texts, labels, prior=category_prior(session))
    return model, {"cases": len(texts)}


def retrain(session: Session, *, actor: Actor, activate: bool = False) -> InsightModel:
    """Train from closed cases and store the result as a new version (active only when asked)."""
    model, _info = train_from_db(session)
    return register(
        session, actor=actor, data=modelfile.dumps(model), source="db:closed-cases", activate=activate
    )
