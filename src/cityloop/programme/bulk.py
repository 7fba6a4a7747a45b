"""Bulk loading of tasks with their history (demo data, benchmarks, migrations from old ledgers).

Core ``INSERT … RETURNING`` in batches instead of one ORM object at a time: tens of thousands of
tasks load in seconds on either database. The caller supplies rows that are already consistent
(the workflow functions are the checked path for people; this is the path for data that was
checked elsewhere), and the load is recorded in the audit trail as one entry per call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.org.models import Person
from cityloop.programme.models import Acceptance, Blob, Evidence, Milestone, Problem, ProgressReport, Task

NESTED = ("milestones", "reports", "acceptances", "problems", "evidence")


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _uniform(model: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Core executemany needs the same keys in every row: fill the missing ones with the column's
    scalar default, or NULL."""
    keys = {k for r in rows for k in r}
    if all(len(r) == len(keys) for r in rows):
        return rows
    defaults = {}
    for key in keys:
        column = _table(model).c[key]
        default = column.default
        defaults[key] = getattr(default, "arg", None) if default is not None and default.is_scalar else None
    return [{**defaults, **r} for r in rows]


def _returning(session: Session, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert on the session's connection (Core: no per-row ORM work) and return the new ids."""
    if not rows:
        return []
    rows = _uniform(model, rows)
    table = _table(model)
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(session.connection().execute(stmt, rows).scalars())


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    rows = _uniform(model, rows)
    for start in range(0, len(rows), 20000):
        session.connection().execute(insert(_table(model)), rows[start : start + 20000])


def people(session: Session, *, actor: audit.Actor, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Named staff (责任人) in one statement; one audit entry lists them."""
    ids = _returning(session, Person, [{"active": True, **r} for r in rows])
    audit.record(
        session,
        actor=actor,
        action="bulk_load",
        entity_type="person",
        entity_id=f"{ids[0]}-{ids[-1]}" if ids else "-",
        after={"count": len(ids), "names": [r["name"] for r in rows]},
    )
    return ids


def blob(session: Session, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    if session.get(Blob, digest) is None:
        _insert(session, Blob, [{"sha256": digest, "data": data}])
    return digest


def tasks(
    session: Session, *, actor: audit.Actor, programme_id: int, rows: Sequence[dict[str, Any]]
) -> list[int]:
    """Tasks with nested ``milestones``, ``reports`` (``milestone_seq`` links one), ``acceptances``
    and ``problems`` (each may carry ``evidence``: dicts for ``programme_evidence`` without owner)."""
    task_ids = _returning(session, Task, [{k: v for k, v in r.items() if k not in NESTED} for r in rows])
    ms_rows, ms_keys = [], []
    for tid, r in zip(task_ids, rows, strict=True):
        for m in r.get("milestones", []):
            ms_rows.append({**m, "task_id": tid})
            ms_keys.append((tid, m["seq"]))
    linked = any("milestone_seq" in rep for r in rows for rep in r.get("reports", []))
    if linked:
        ms_ids = dict(zip(ms_keys, _returning(session, Milestone, ms_rows), strict=True))
    else:
        _insert(session, Milestone, ms_rows)
        ms_ids = {}
    counts = {
        "tasks": len(task_ids),
        "milestones": len(ms_rows),
        "reports": 0,
        "acceptances": 0,
        "problems": 0,
    }
    evidence: list[dict[str, Any]] = []
    _reports(session, rows, task_ids, ms_ids, evidence, counts)
    _owned(session, Acceptance, "acceptances", "acceptance", rows, task_ids, evidence, counts)
    _owned(session, Problem, "problems", "problem", rows, task_ids, evidence, counts)
    if evidence:
        _insert(session, Evidence, evidence)
    audit.record(
        session,
        actor=actor,
        action="bulk_load",
        entity_type="programme",
        entity_id=programme_id,
        after={
            **counts,
            "evidence": len(evidence),
            "task_ids": [task_ids[0], task_ids[-1]] if task_ids else [],
        },
    )
    return task_ids


def _reports(
    session: Session,
    rows: Sequence[dict[str, Any]],
    task_ids: list[int],
    ms_ids: dict[tuple[int, int], int],
    evidence: list[dict[str, Any]],
    counts: dict[str, int],
) -> None:
    batch: list[dict[str, Any]] = []
    files: list[list[dict[str, Any]]] = []
    for tid, r in zip(task_ids, rows, strict=True):
        for rep in r.get("reports", []):
            body = {k: v for k, v in rep.items() if k not in ("milestone_seq", "evidence")}
            seq = rep.get("milestone_seq")
            body["milestone_id"] = ms_ids.get((tid, seq)) if seq else None
            batch.append({**body, "task_id": tid})
            files.append(rep.get("evidence", []))
    with_files = any(files)
    if with_files:
        ids = _returning(session, ProgressReport, batch)
        for rid, tid_files, body in zip(ids, files, batch, strict=True):
            for ev in tid_files:
                evidence.append({**ev, "task_id": body["task_id"], "owner_type": "report", "owner_id": rid})
    else:
        _insert(session, ProgressReport, batch)
    counts["reports"] = len(batch)


def _owned(
    session: Session,
    model: Any,
    key: str,
    owner_type: str,
    rows: Sequence[dict[str, Any]],
    task_ids: list[int],
    evidence: list[dict[str, Any]],
    counts: dict[str, int],
) -> None:
    batch, files = [], []
    for tid, r in zip(task_ids, rows, strict=True):
        for item in r.get(key, []):
            batch.append({**{k: v for k, v in item.items() if k != "evidence"}, "task_id": tid})
            files.append(item.get("evidence", []))
    ids = _returning(session, model, batch)
    for oid, owned, body in zip(ids, files, batch, strict=True):
        for ev in owned:
            target = {"problem_id": oid} if owner_type == "problem" else {"task_id": body["task_id"]}
            evidence.append({**ev, **target, "owner_type": owner_type, "owner_id": oid})
    counts[key] = len(batch)


def task_ids_by_code(session: Session, *, programme_id: int) -> dict[str, int]:
    return dict(session.execute(select(Task.code, Task.id).where(Task.programme_id == programme_id)).all())


def analyze(session: Session) -> None:
    """Refresh the planner's statistics after a large load (both databases plan better with them)."""
    tables = ("programme_tasks", "programme_milestones", "programme_reports", "programme_problems")
    for name in tables:
        session.execute(text(f"ANALYZE {name}"))
