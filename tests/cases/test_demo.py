"""The demo month: every channel, both category kinds, many streets, open and overdue, rework, ratings."""

from sqlalchemy import distinct, func, select

from cityloop.cases.models import Case, CaseEvent, Category, Rating
from cityloop.core import audit
from cityloop.core.clock import now


def test_the_demo_month_looks_like_a_month(db) -> None:
    n = db.scalar(select(func.count()).select_from(Case))
    assert n >= 1000
    sources = set(db.execute(select(Case.source).distinct()).scalars())
    assert sources == {"hotline_12345", "web", "app", "inspector", "enforcement", "sensor", "video"}
    states = set(db.execute(select(Case.state).distinct()).scalars())
    assert {"reported", "registered", "handling", "feedback", "closed", "voided", "parked"} <= states
    kinds = set(
        db.execute(select(Category.kind).join(Case, Case.category_id == Category.id).distinct()).scalars()
    )
    assert kinds == {"component", "event"}
    assert db.scalar(select(func.count(distinct(Case.street_id)))) >= 15
    oldest = db.scalar(select(func.min(Case.reported_at)))
    assert (now() - oldest).days >= 25
    overdue = db.scalar(
        select(func.count()).select_from(Case).where(Case.due_at < now(), Case.state != "closed")
    )
    reworked = db.scalar(select(func.count()).select_from(Case).where(Case.rework_count > 0))
    rated = db.scalar(select(func.count()).select_from(Rating))
    assert overdue > 10 and reworked > 10 and rated > 100
    assert db.scalar(select(func.count()).select_from(CaseEvent)) > 5 * n
    assert audit.verify(db).ok
