"""Bulk loading of tasks with their history (demo data, benchmarks, migrations from old ledgers).

Ids are drawn first and rows written set-based (``fastsql``: COPY on PostgreSQL, executemany on
SQLite) instead of one ORM object at a time: tens of thousands of tasks load in seconds. The caller
supplies rows that are already consistent — the workflow functions are the checked path for
people; this is the path for data checked elsewhere — and each load is one audit entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.org.models import Person
from cityloop.programme.fastsql import allocate_ids, write_rows
from cityloop.programme.models import Acceptance, Blob, Evidence, Milestone, Problem, ProgressReport, Task

NESTED = ("milestones", "reports", "acceptances", "problems", "evidence")


def _with_ids(session: Session, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    ids = allocate_ids(session, model, len(rows))
    for i, row in zip(ids, rows, strict=True):
        row["id"] = i
    write_rows(session, model, rows)
    return ids


def people(session: Session, *, actor: audit.Actor, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Named staff (责任人) in one statement; one audit entry lists them."""
    ids = _with_ids(session, Person, [{"active": True, **r} for r in rows])
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
        write_rows(session, Blob, [{"sha256": digest, "data": data}])
    return digest


def tasks(
    session: Session, *, actor: audit.Actor, programme_id: int, rows: Sequence[dict[str, Any]]
) -> list[int]:
    """Tasks with nested ``milestones``, ``reports`` (``milestone_seq`` links one), ``acceptances``
    and ``problems`` (each may carry ``evidence``: dicts for ``programme_evidence`` without owner)."""
    task_ids = _with_ids(session, Task, [{k: v for k, v in r.items() if k not in NESTED} for r in rows])
    ms_rows = [
        {**m, "task_id": tid} for tid, r in zip(task_ids, rows, strict=True) for m in r.get("milestones", [])
    ]
    ms_ids = _with_ids(session, Milestone, ms_rows)
    by_seq = {(m["task_id"], m["seq"]): i for m, i in zip(ms_rows, ms_ids, strict=True)}
    evidence: list[dict[str, Any]] = []
    counts = {"tasks": len(task_ids), "milestones": len(ms_rows)}
    counts["reports"] = _reports(session, rows, task_ids, by_seq, evidence)
    counts["acceptances"] = _owned(session, Acceptance, "acceptances", rows, task_ids, evidence)
    counts["problems"] = _owned(session, Problem, "problems", rows, task_ids, evidence)
    write_rows(session, Evidence, evidence)
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
    session.expire_all()  # rows written beside the ORM
    return task_ids


def _reports(
    session: Session,
    rows: Sequence[dict[str, Any]],
    task_ids: list[int],
    by_seq: dict[tuple[int, int], int],
    evidence: list[dict[str, Any]],
) -> int:
    batch: list[dict[str, Any]] = []
    files: list[list[dict[str, Any]]] = []
    for tid, r in zip(task_ids, rows, strict=True):
        for rep in r.get("reports", []):
            body = {k: v for k, v in rep.items() if k not in ("milestone_seq", "evidence")}
            seq = rep.get("milestone_seq")
            body["milestone_id"] = by_seq.get((tid, seq)) if seq else None
            batch.append({**body, "task_id": tid})
            files.append(rep.get("evidence", []))
    ids = _with_ids(session, ProgressReport, batch)
    for rid, owned, body in zip(ids, files, batch, strict=True):
        for ev in owned:
            evidence.append({**ev, "task_id": body["task_id"], "owner_type": "report", "owner_id": rid})
    return len(batch)


def _owned(
    session: Session,
    model: Any,
    key: str,
    rows: Sequence[dict[str, Any]],
    task_ids: list[int],
    evidence: list[dict[str, Any]],
) -> int:
    owner_type = "problem" if key == "problems" else "acceptance"
    batch, files = [], []
    for tid, r in zip(task_ids, rows, strict=True):
        for item in r.get(key, []):
            batch.append({**{k: v for k, v in item.items() if k != "evidence"}, "task_id": tid})
            files.append(item.get("evidence", []))
    ids = _with_ids(session, model, batch)
    for oid, owned, body in zip(ids, files, batch, strict=True):
        for ev in owned:
            target = {"problem_id": oid} if owner_type == "problem" else {"task_id": body["task_id"]}
            evidence.append({**ev, **target, "owner_type": owner_type, "owner_id": oid})
    return len(batch)


def task_ids_by_code(session: Session, *, programme_id: int) -> dict[str, int]:
    return dict(session.execute(select(Task.code, Task.id).where(Task.programme_id == programme_id)).all())


def analyze(session: Session) -> None:
    """Refresh the planner's statistics after a large load (both databases plan better with them)."""
    for name in ("programme_tasks", "programme_milestones", "programme_reports", "programme_problems"):
        session.execute(text(f"ANALYZE {name}"))
