"""Errors a user can act on. Each has a stable ``code`` for programs and a message in the user's language.

Every layer raises ``AppError`` (or a subclass); the API turns it into
``{"error": {"code", "message", "details"}}`` with its HTTP status, the web shows the message on the
page, and the CLI prints one line and exits 2.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message_key: str,
        *,
        details: Any = None,
        code: str | None = None,
        status_code: int | None = None,
        **params: Any,
    ) -> None:
        super().__init__(message_key)
        self.message_key = message_key
        self.params = params
        self.details = details
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code

    def message(self, locale: str) -> str:
        from cityloop.core.i18n import translate

        return translate(self.message_key, locale, **self.params)

    def __str__(self) -> str:
        return self.message("en")


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_error"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class TooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class TooManyAttempts(AppError):
    status_code = 429
    code = "too_many_attempts"
