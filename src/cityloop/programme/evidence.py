"""Evidence files (photos, PDFs, spreadsheets) behind a small store interface.

The default store keeps content in the database, addressed by SHA-256, so it is backed up, rolled
back and shared by every API process exactly like the rows that point at it; a district that wants
an object store plugs in another ``EvidenceStore``.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.errors import Conflict, NotFound, ValidationFailed
from cityloop.core.permissions import Principal
from cityloop.programme.models import Blob, Evidence

# Never SVG or HTML: evidence is served back to browsers and must not carry scripts.
ALLOWED_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.",
    "application/msword",
    "application/vnd.ms-excel",
    "text/plain",
    "video/mp4",
)
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")


class EvidenceStore(Protocol):
    def put(self, session: Session, *, sha256: str, data: bytes) -> None: ...

    def get(self, session: Session, *, sha256: str) -> bytes: ...


class DatabaseStore:
    """Content in ``programme_blobs``; the same file uploaded twice is stored once."""

    def put(self, session: Session, *, sha256: str, data: bytes) -> None:
        if session.get(Blob, sha256) is None:
            session.add(Blob(sha256=sha256, data=data))
            session.flush()

    def get(self, session: Session, *, sha256: str) -> bytes:
        blob = session.get(Blob, sha256)
        if blob is None:
            raise NotFound("error.programme.evidence_not_found", ref=sha256[:12])
        return blob.data


STORE: EvidenceStore = DatabaseStore()


def upload(
    session: Session,
    *,
    principal: Principal,
    filename: str,
    data: bytes,
    content_type: str | None = None,
    task_id: int | None = None,
    problem_id: int | None = None,
) -> Evidence:
    """Store one file for a task or a problem the caller may already see (checked by the caller)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:200]
    if not name or not data:
        raise ValidationFailed("error.programme.evidence_empty", field="file")
    ctype = (content_type or mimetypes.guess_type(name)[0] or "application/octet-stream").lower()
    if not ctype.startswith(ALLOWED_TYPES):
        raise ValidationFailed("error.programme.evidence_type", field="file", type=ctype)
    digest = hashlib.sha256(data).hexdigest()
    STORE.put(session, sha256=digest, data=data)
    evidence = Evidence(
        task_id=task_id,
        problem_id=problem_id,
        filename=name,
        content_type=ctype,
        size=len(data),
        sha256=digest,
        uploaded_by_user_id=principal.user_id,
        uploader_name=principal.display_name,
    )
    session.add(evidence)
    session.flush()
    audit.record(
        session,
        actor=principal,
        action="upload",
        entity_type="evidence",
        entity_id=evidence.id,
        after=audit.snapshot(evidence),
    )
    return evidence


def claim(
    session: Session,
    *,
    ids: Sequence[int],
    owner_type: str,
    owner_id: int,
    task_id: int | None = None,
    problem_id: int | None = None,
) -> list[Evidence]:
    """Attach uploaded files to what they prove. Each file proves one thing: reuse is a 409."""
    if not ids:
        return []
    rows = session.execute(select(Evidence).where(Evidence.id.in_(list(ids)))).scalars().all()
    found = {e.id: e for e in rows}
    for ref in ids:
        ev = found.get(ref)
        belongs = ev is not None and (
            (task_id is not None and ev.task_id == task_id)
            or (problem_id is not None and ev.problem_id == problem_id)
        )
        if ev is None or not belongs:
            raise NotFound("error.programme.evidence_not_found", ref=ref)
        if ev.owner_type is not None:
            raise Conflict("error.programme.evidence_used", ref=ref)
        ev.owner_type, ev.owner_id = owner_type, owner_id
    session.flush()
    return [found[i] for i in ids]


def attached(session: Session, *, owner_type: str, owner_ids: Sequence[int]) -> dict[int, list[Evidence]]:
    out: dict[int, list[Evidence]] = {}
    if not owner_ids:
        return out
    stmt = (
        select(Evidence)
        .where(Evidence.owner_type == owner_type, Evidence.owner_id.in_(list(owner_ids)))
        .order_by(Evidence.id)
    )
    for ev in session.execute(stmt).scalars():
        out.setdefault(int(ev.owner_id or 0), []).append(ev)
    return out


def content(session: Session, *, evidence: Evidence) -> bytes:
    return STORE.get(session, sha256=evidence.sha256)
