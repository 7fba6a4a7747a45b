"""Pydantic pieces shared by every domain's schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer

from cityloop.core.clock import isoformat
from cityloop.core.validation import Input, Patch

__all__ = ["API_ERRORS", "ErrorDetail", "ErrorResponse", "Out", "Patch", "Strict", "ZonedDatetime"]

# Times go out in the display zone with their offset: "2026-11-28T18:00:00+08:00".
ZonedDatetime = Annotated[datetime, PlainSerializer(lambda v: isoformat(v), return_type=str)]


class Strict(Input):
    """Input models: unknown fields are an error, and the validation vocabulary (core.validation) holds
    for every field. ``Patch`` is the base of partial updates (null refused unless clearable)."""


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


# The error answers every API route documents (each may also answer 413 for a body over the limit, or
# 400 for JSON too deep): one map for all routers.
API_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 422)
}
