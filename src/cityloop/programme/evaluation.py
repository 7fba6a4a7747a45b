"""评估: scores per action, department and street/town, computed from the data itself.

Four rates over everything due by the end of the period (docs/programme/evaluation.md has the
formula and why):

- completion       = milestones done by the period end / milestones due by then
- timeliness       = milestones done on or before their date / milestones due by then
- problem_closure  = problems struck off (销号) by the period end / problems raised by then
- acceptance_pass  = acceptance checks passed / acceptance checks made by the period end

score = 100 × Σ wᵢ·rateᵢ / Σ wᵢ over the rates that have a denominator (weights are programme data).
A task counts for its action, for its responsible unit's department, or for the street/town that
contains its responsible unit; a problem counts for its own responsible unit the same way.
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, select
from sqlalchemy.orm import Session

from cityloop.core.clock import display_zone, now
from cityloop.core.errors import ValidationFailed
from cityloop.core.validation import YEAR_MAX, YEAR_MIN
from cityloop.org.models import Unit, UnitKind
from cityloop.programme import service
from cityloop.programme.models import Acceptance, Milestone, Problem, Programme, ScoreSnapshot, Task

METRICS = ("completion", "timeliness", "problem_closure", "acceptance_pass")
LEVELS = ("action", "department", "street")
MONTH_RE = re.compile(r"^([0-9]{4})-([0-9]{2})\Z")
AREA = frozenset({UnitKind.street, UnitKind.town})


@dataclass
class Counts:
    due: int = 0
    done: int = 0
    on_time: int = 0
    raised: int = 0
    closed: int = 0
    checks: int = 0
    passed: int = 0

    def add(self, other: Counts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Score:
    level: str
    key: int
    name: str
    counts: Counts
    rates: dict[str, float | None] = field(default_factory=dict)
    score: float | None = None
    rank: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "id": self.key,
            "name": self.name,
            "score": self.score,
            "rank": self.rank,
            "rates": self.rates,
            "counts": self.counts.__dict__,
        }


def month_bounds(month: str | None, today: date) -> tuple[str, date]:
    """ "2026-06" → ("2026-06", the last day, or today while the month is still running)."""
    if not month:
        month = f"{today.year:04d}-{today.month:02d}"
    m = MONTH_RE.match(month)
    if not m or not 1 <= int(m.group(2)) <= 12 or not YEAR_MIN <= int(m.group(1)) <= YEAR_MAX:
        raise ValidationFailed("error.programme.month_invalid", field="month", month=month)
    year, mon = int(m.group(1)), int(m.group(2))
    end = date(year, mon, calendar.monthrange(year, mon)[1])
    return month, min(end, today) if (year, mon) == (today.year, today.month) else end


def end_moment(day: date) -> datetime:
    """The first instant after ``day`` in the district's zone, as UTC (times compare with it)."""
    local = datetime.combine(day + timedelta(days=1), time(0), tzinfo=display_zone())
    return local.astimezone(UTC)


def _rates(c: Counts) -> dict[str, float | None]:
    def rate(num: int, den: int) -> float | None:
        return round(num / den, 4) if den else None

    return {
        "completion": rate(c.done, c.due),
        "timeliness": rate(c.on_time, c.due),
        "problem_closure": rate(c.closed, c.raised),
        "acceptance_pass": rate(c.passed, c.checks),
    }


def score_of(rates: dict[str, float | None], weights: dict[str, float]) -> float | None:
    used = [(weights.get(k, 0.0), v) for k, v in rates.items() if v is not None and weights.get(k, 0.0) > 0]
    total = sum(w for w, _ in used)
    return round(100 * sum(w * v for w, v in used) / total, 1) if total else None


def _gather(session: Session, programme: Programme, as_of: date) -> dict[tuple[int, int], Counts]:
    """Counts per (action id, responsible unit id), four grouped queries."""
    out: dict[tuple[int, int], Counts] = defaultdict(Counts)
    end = end_moment(as_of)
    done_by = and_(Milestone.done_on.is_not(None), Milestone.done_on <= as_of)
    # Per task first (an index-only pass over milestones), then per action and unit.
    per_task = (
        select(
            Milestone.task_id,
            func.count().label("due"),
            func.sum(case((done_by, 1), else_=0)).label("done"),
            func.sum(case((and_(done_by, Milestone.done_on <= Milestone.due_on), 1), else_=0)).label(
                "on_time"
            ),
        )
        .where(
            Milestone.due_on <= as_of,
            Milestone.task_id.in_(select(Task.id).where(Task.programme_id == programme.id)),
        )
        .group_by(Milestone.task_id)
        .subquery()
    )
    ms = (
        select(
            Task.action_id,
            Task.responsible_unit_id,
            func.sum(per_task.c.due),
            func.sum(per_task.c.done),
            func.sum(per_task.c.on_time),
        )
        .join(per_task, per_task.c.task_id == Task.id)
        .group_by(Task.action_id, Task.responsible_unit_id)
    )
    for action_id, unit_id, due, done, on_time in session.connection().execute(ms):
        c = out[(action_id, unit_id)]
        c.due, c.done, c.on_time = int(due), int(done or 0), int(on_time or 0)
    pb = (
        select(
            Problem.action_id,
            Problem.responsible_unit_id,
            func.count(),
            func.sum(case((and_(Problem.closed_at.is_not(None), Problem.closed_at < end), 1), else_=0)),
        )
        .where(Problem.programme_id == programme.id, Problem.raised_at < end)
        .group_by(Problem.action_id, Problem.responsible_unit_id)
    )
    for action_id, unit_id, raised, closed in session.execute(pb):
        c = out[(action_id, unit_id)]
        c.raised, c.closed = int(raised), int(closed or 0)
    ac = (
        select(
            Task.action_id,
            Task.responsible_unit_id,
            func.count(),
            func.sum(case((Acceptance.passed.is_(True), 1), else_=0)),
        )
        .join(Task, Task.id == Acceptance.task_id)
        .where(Task.programme_id == programme.id, Acceptance.checked_at < end)
        .group_by(Task.action_id, Task.responsible_unit_id)
    )
    for action_id, unit_id, checks, passed in session.execute(ac):
        c = out[(action_id, unit_id)]
        c.checks, c.passed = int(checks), int(passed or 0)
    return out


def _owners(session: Session) -> tuple[dict[int, tuple[str, int]], dict[int, str]]:
    """For each unit: ("department"|"street", id of the department or street/town it lies in)."""
    units = session.execute(select(Unit.id, Unit.path, Unit.kind, Unit.name)).all()
    kind = {u.id: u.kind for u in units}
    names = {u.id: u.name for u in units}
    owner: dict[int, tuple[str, int]] = {}
    for u in units:
        for ancestor in (int(p) for p in reversed(u.path.strip("/").split("/")) if p):
            if kind.get(ancestor) == UnitKind.department:
                owner[u.id] = ("department", ancestor)
                break
            if kind.get(ancestor) in AREA:
                owner[u.id] = ("street", ancestor)
                break
    return owner, names


@dataclass
class Evaluation:
    programme: Programme
    month: str
    as_of: date
    weights: dict[str, float]
    levels: dict[str, list[Score]]
    ranking_size: int
    computed_at: datetime | None = None  # None: counted live for this request

    def red_list(self, level: str) -> list[Score]:
        return [s for s in self.levels[level] if s.score is not None][: self.ranking_size]

    def black_list(self, level: str) -> list[Score]:
        ranked = [s for s in self.levels[level] if s.score is not None]
        tail = ranked[-self.ranking_size :] if len(ranked) > self.ranking_size else []
        return list(reversed(tail))


Buckets = dict[str, dict[int, Counts]]


def _live(session: Session, programme: Programme, as_of: date) -> Buckets:
    """Counts per level and key, straight from the facts (four grouped queries)."""
    counts = _gather(session, programme, as_of)
    owner, _ = _owners(session)
    buckets: Buckets = {level: defaultdict(Counts) for level in LEVELS}
    for action in service.list_actions(session, programme=programme):
        buckets["action"][action.id] = Counts()
    # Every unit carrying a task is listed, even before anything of it falls due (score "—").
    carriers = select(Task.responsible_unit_id).where(Task.programme_id == programme.id).distinct()
    for unit_id in session.execute(carriers).scalars():
        if unit_id in owner:
            level, key = owner[unit_id]
            buckets[level].setdefault(key, Counts())
    for (action_id, unit_id), c in counts.items():
        buckets["action"][action_id].add(c)
        if unit_id in owner:
            level, key = owner[unit_id]
            buckets[level][key].add(c)
    return buckets


def _stored(session: Session, programme: Programme, month: str) -> tuple[Buckets, date, datetime] | None:
    rows = (
        session.execute(
            select(ScoreSnapshot).where(
                ScoreSnapshot.programme_id == programme.id, ScoreSnapshot.month == month
            )
        )
        .scalars()
        .all()
    )
    if not rows:
        return None
    buckets: Buckets = {level: {} for level in LEVELS}
    for r in rows:
        buckets[r.level][r.key] = Counts(r.due, r.done, r.on_time, r.raised, r.closed, r.checks, r.passed)
    return buckets, rows[0].as_of, min(r.computed_at for r in rows)


def evaluate(
    session: Session, *, programme: Programme, month: str | None, today: date, fresh: bool = False
) -> Evaluation:
    """The month's scores: from the worker's snapshot when there is one, else counted live."""
    month, as_of = month_bounds(month, today)
    stored = None if fresh else _stored(session, programme, month)
    computed_at: datetime | None = None
    if stored is not None:
        buckets, as_of, computed_at = stored
    else:
        buckets = _live(session, programme, as_of)
    weights = service.evaluation_weights(programme)
    _, names = _owners(session)
    actions = {a.id: a.name for a in service.list_actions(session, programme=programme)}
    levels: dict[str, list[Score]] = {}
    for level, by_key in buckets.items():
        scores = []
        for key, c in by_key.items():
            name = actions.get(key, str(key)) if level == "action" else names.get(key, str(key))
            rates = _rates(c)
            scores.append(Score(level, key, name, c, rates, score_of(rates, weights)))
        scores.sort(key=lambda s: (s.score is None, -(s.score or 0), s.name))
        for i, s in enumerate(x for x in scores if x.score is not None):
            s.rank = i + 1
        levels[level] = scores
    size = int(service.supervision_settings(programme)["ranking_size"])
    return Evaluation(programme, month, as_of, weights, levels, size, computed_at)


def snapshot(session: Session, *, programme: Programme, month: str | None, today: date) -> int:
    """Count the month live and store it for the pages (replacing the month's earlier snapshot)."""
    month, as_of = month_bounds(month, today)
    buckets = _live(session, programme, as_of)
    at = now()
    rows = [
        {
            "programme_id": programme.id,
            "month": month,
            "level": level,
            "key": key,
            "as_of": as_of,
            "computed_at": at,
            **c.__dict__,
        }
        for level, by_key in buckets.items()
        for key, c in by_key.items()
    ]
    session.execute(
        delete(ScoreSnapshot).where(ScoreSnapshot.programme_id == programme.id, ScoreSnapshot.month == month)
    )
    if rows:
        session.execute(insert(ScoreSnapshot), rows)
    return len(rows)


def previous_month(day: date) -> str:
    first = day.replace(day=1) - timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"


def sheet_title(name: str) -> str:
    """A translated name as Excel takes it: none of ``[]:*?/\\`` (“Streets/towns”), at most 31 characters."""
    return re.sub(r"[\[\]:*?/\\]", "·", name)[:31]


def to_excel(result: Evaluation, *, locale: str) -> bytes:
    """The month's scores as a workbook: one sheet per level plus the 红黑榜."""
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Font

    from cityloop.core.i18n import translate

    wb = Workbook()
    first = wb.active
    first.title = sheet_title(translate("evaluation.sheet.lists", locale))
    first.append(
        [translate("evaluation.title", locale), result.programme.name, result.month, result.as_of.isoformat()]
    )
    first.append(
        [translate("evaluation.weights", locale)]
        + [f"{translate('metric.' + k, locale)} {v}" for k, v in result.weights.items()]
    )
    for level in ("department", "street"):
        for label, rows in (("red", result.red_list(level)), ("black", result.black_list(level))):
            first.append([])
            first.append(
                [translate(f"evaluation.{label}_list", locale) + " · " + translate(f"level.{level}", locale)]
            )
            for s in rows:
                first.append([s.rank, s.name, s.score])
    header = [
        translate("evaluation.rank", locale),
        translate("evaluation.name", locale),
        translate("evaluation.score", locale),
    ]
    header += [translate(f"metric.{m}", locale) for m in METRICS]
    header += [translate(f"count.{k}", locale) for k in Counts.__dataclass_fields__]
    for level in LEVELS:
        ws = wb.create_sheet(sheet_title(translate(f"level.{level}", locale)))
        ws.append(header)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for s in result.levels[level]:
            rates = [None if s.rates[m] is None else round(100 * float(s.rates[m] or 0), 1) for m in METRICS]
            ws.append([s.rank, s.name, s.score, *rates, *s.counts.__dict__.values()])
        ws.column_dimensions["B"].width = 34
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
