"""Photos and documents attached to a case, behind a small storage interface.

The type is decided from the file's first bytes (what the client calls it is not trusted), the size
against ``CITYLOOP_CASE_ATTACHMENT_MAX_BYTES``. Files are stored by content hash, so a retried upload
stores nothing twice; the database row is what makes a file part of a case.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.cases.models import Attachment, Case
from cityloop.cases.scope import Actor
from cityloop.config import get_settings
from cityloop.core import audit
from cityloop.core.clock import now
from cityloop.core.errors import NotFound, TooLarge, ValidationFailed
from cityloop.core.permissions import Principal

# (magic prefix, offset, content type, extension)
_SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "png"),
    (b"GIF87a", 0, "image/gif", "gif"),
    (b"GIF89a", 0, "image/gif", "gif"),
    (b"%PDF-", 0, "application/pdf", "pdf"),
    (b"ftyp", 4, "video/mp4", "mp4"),
)
ALLOWED_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf", "video/mp4"}
)
PURPOSES = ("report", "evidence", "verification")


def sniff(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the first bytes, or None when it is not a supported kind."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    for magic, offset, ctype, ext in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return ctype, ext
    return None


def check(data: bytes) -> tuple[str, str]:
    limit = get_settings().case_attachment_max_bytes
    if len(data) > limit:
        raise TooLarge("cases.error.attachment_too_large", limit=limit)
    if not data:
        raise ValidationFailed("cases.error.attachment_empty")
    kind = sniff(data)
    if kind is None:
        raise ValidationFailed(
            "cases.error.attachment_type",
            allowed=", ".join(sorted(ALLOWED_TYPES)),
            error_code="unsupported_media",
        )
    return kind


_SAFE_NAME = re.compile(r"[^\w.\-一-鿿]+")


def safe_filename(name: str | None, ext: str) -> str:
    base = _SAFE_NAME.sub("_", Path(name or "").name)[:150].strip("._") or "file"
    return base if base.lower().endswith("." + ext) else f"{base}.{ext}"


class Storage(Protocol):
    def put(self, data: bytes, ext: str) -> str:
        """Store the bytes; return the key to read them back."""

    def get(self, key: str) -> bytes:
        """The stored bytes (FileNotFoundError when absent)."""


class LocalStorage:
    """Files under a directory, named by SHA-256 and fanned out by its first two characters."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}\.[a-z0-9]{2,5}", key):
            raise FileNotFoundError(key)
        return self.root / key[:2] / key

    def put(self, data: bytes, ext: str) -> str:
        key = f"{hashlib.sha256(data).hexdigest()}.{ext}"
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a crash never leaves a half file under the final name.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()


class MemoryStorage:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def put(self, data: bytes, ext: str) -> str:
        key = f"{hashlib.sha256(data).hexdigest()}.{ext}"
        self.files[key] = data
        return key

    def get(self, key: str) -> bytes:
        try:
            return self.files[key]
        except KeyError:
            raise FileNotFoundError(key) from None


_override: Storage | None = None
_memory = MemoryStorage()


def set_storage(storage: Storage | None) -> None:
    global _override
    _override = storage


def storage() -> Storage:
    if _override is not None:
        return _override
    settings = get_settings()
    if settings.case_storage == "memory":
        return _memory
    return LocalStorage(Path(settings.case_storage_dir))


def add_attachment(
    session: Session,
    *,
    actor: Actor,
    case: Case,
    data: bytes,
    filename: str | None,
    purpose: str = "report",
) -> Attachment:
    """Check and store a file, then attach it to ``case`` (the caller checked the actor may)."""
    if purpose not in PURPOSES:
        raise ValidationFailed("cases.error.purpose_unknown", purpose=purpose, allowed=", ".join(PURPOSES))
    ctype, ext = check(data)
    key = storage().put(data, ext)
    row = Attachment(
        case_id=case.id,
        purpose=purpose,
        filename=safe_filename(filename, ext),
        content_type=ctype,
        size=len(data),
        sha256=key.split(".", 1)[0],
        storage_key=key,
        uploaded_by=actor.user_id if isinstance(actor, Principal) else None,
        uploaded_at=now(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="case.attach",
        entity_type="case",
        entity_id=case.id,
        after={"attachment_id": row.id, "filename": row.filename, "size": row.size, "type": ctype},
    )
    return row


def list_attachments(session: Session, *, case: Case) -> list[Attachment]:
    stmt = select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id)
    return list(session.execute(stmt).scalars())


def get_attachment(session: Session, *, case: Case, attachment_id: int) -> Attachment:
    row = session.get(Attachment, attachment_id)
    if row is None or row.case_id != case.id:
        raise NotFound("cases.error.attachment_not_found", ref=attachment_id)
    return row
