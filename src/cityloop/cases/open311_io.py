"""Open311 GeoReport v2 wire formats, errors and API keys.

One document shape, two encodings: a JSON body, or XML without namespace where a list is a plural
element holding singular ones (``<services><service>…``). Errors are always a list of
``{code, description}`` with the HTTP status as code (404 not found, 403 api_key, 400 everything else).
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from xml.etree import ElementTree as ET

from fastapi import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.cases.models import Open311Key
from cityloop.core import audit
from cityloop.core.clock import now
from cityloop.core.errors import AppError, Conflict, NotFound, ValidationFailed
from cityloop.core.security import token_digest
from cityloop.core.validation import strip_controls

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
KEY_PREFIX = "o311_"


class Open311Error(Exception):
    """An answer of the error list; ``status`` is 400, 403 or 404 (also the ``code`` in the body)."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def from_app_error(exc: AppError) -> Open311Error:
    # The spec knows three outcomes: not found, bad api_key, and "anything else" (400).
    status = {404: 404, 403: 403}.get(exc.status_code, 400)
    return Open311Error(status, exc.message("en"))


def split_format(name: str) -> tuple[str, str]:
    """``"JLP-2026-000001.json"`` → (``"JLP-2026-000001"``, ``"json"``); an unknown suffix is a 400."""
    stem, dot, fmt = name.rpartition(".")
    if not dot or fmt not in FORMATS:
        raise Open311Error(400, "the format must be .json or .xml")
    return stem, fmt


# --- encoding -----------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    # Whatever got stored (an import, an old row), the document stays well-formed: XML 1.0 has no
    # place for control characters, lone surrogates or U+FFFE/FFFF.
    return strip_controls(str(value))


def _clean(value: Any) -> Any:
    """``value`` with every string cleaned as in ``_text``, for the JSON encoding."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _fill(parent: ET.Element, value: Any, item: str | None) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            child = ET.SubElement(parent, key)
            _fill(child, sub, ITEMS.get(key))
    elif isinstance(value, list | tuple):
        for sub in value:
            _fill(ET.SubElement(parent, item or "item"), sub, None)
    else:
        parent.text = _text(value)


# The singular element of each plural one.
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
}


def to_xml(root: str, value: Any) -> bytes:
    element = ET.Element(root)
    _fill(element, value, ITEMS.get(root))
    body = ET.tostring(element, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode("utf-8")


def document(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    """``value`` as JSON, or as XML under ``<root>`` (a list becomes ``<root><item/>…</root>``)."""
    if fmt == "json":
        body = json.dumps(_clean(value), ensure_ascii=False).encode("utf-8")
    else:
        body = to_xml(root, value)
    return Response(body, status_code=status, media_type=FORMATS[fmt])


def error_response(fmt: str, exc: Open311Error) -> Response:
    errors = [{"code": exc.status, "description": exc.description}]
    return document(fmt if fmt in FORMATS else "xml", "errors", errors, status=exc.status)


# --- API keys ------------------------------------------------------------------------------------------


def create_key(session: Session, *, actor: audit.Actor, name: str) -> str:
    """A new key for app ``name``; returns the key (shown once), stores only its SHA-256."""
    name = name.strip()
    if not name or len(name) > 60:
        raise ValidationFailed("cases.open311.key_name_invalid")
    if session.execute(select(Open311Key.id).where(Open311Key.name == name)).first() is not None:
        raise Conflict("cases.open311.key_name_taken", name=name)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = Open311Key(name=name, key_hash=token_digest(key), active=True, created_at=now())
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="open311_key.create",
        entity_type="open311_key",
        entity_id=row.id,
        after={"name": name},
    )
    return key


def app_for_key(session: Session, *, key: str | None) -> Open311Key:
    """The app a key belongs to; a missing, unknown or revoked key is a 403."""
    if not key:
        raise Open311Error(403, "api_key is required")
    row = session.execute(
        select(Open311Key).where(Open311Key.key_hash == token_digest(key))
    ).scalar_one_or_none()
    if row is None or not row.active:
        raise Open311Error(403, "api_key is invalid")
    return row


def key_by_name(session: Session, *, name: str) -> Open311Key:
    row = session.execute(select(Open311Key).where(Open311Key.name == name)).scalar_one_or_none()
    if row is None:
        raise NotFound("cases.open311.key_unknown", name=name)
    return row


def guard_refusal(scope: Any, status: int, code: str, message: str) -> Response:
    """The input guard's refusal (core.jsonlimits) as the spec's error list, in the path's format."""
    path = str(scope.get("path", ""))
    fmt = path.rpartition(".")[2] if path.rpartition(".")[2] in FORMATS else "xml"
    return error_response(fmt, Open311Error(400 if status == 422 else status, message))
