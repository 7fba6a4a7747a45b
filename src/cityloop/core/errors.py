"""Errors a user can act on. Each has a stable ``code`` for programs and a message in the user's language.

Every layer raises ``AppError`` (or a subclass); the API turns it into
``{"error": {"code", "message", "details"}}`` with its HTTP status, the web shows the message on the
page, and the CLI prints one line and exits 2.
"""

from __future__ import annotations

from typing import Any

# Every ``code`` an error body may carry, with what it means. The one catalogue: AppError subclasses,
# the HTTP handlers and the input middleware use only these (tests/core/test_error_catalogue.py scans
# the source). A code is a fixed word for programs, never built from what the caller sent.
CODES: dict[str, str] = {
    "bad_request": "the request cannot be done as sent",
    "validation_error": "a field is missing, malformed or out of range (details name it)",
    "invalid_json": "the body is not JSON",
    "json_too_deep": "the JSON body is nested deeper than the limit",
    "number_too_long": "a number literal in the JSON body is longer than the limit",
    "control_character": "the path, query or body holds a control character",
    "not_found": "no such record, or not in your scope",
    "forbidden": "your role may not do this",
    "unauthorized": "not signed in, or the token is invalid",
    "conflict": "the request conflicts with the current state",
    "payload_too_large": "the body is larger than the limit",
    "too_many_attempts": "too many failed sign-ins",
    "method_not_allowed": "the path does not take this method",
    "http_error": "another HTTP-level refusal",
    "internal_error": "a fault of the server (logged)",
    "csrf_failed": "the form's CSRF token is missing or stale",
    "idempotency_key_reused": "the Idempotency-Key was used for another report",
    "outside_district": "the point lies outside the district",
    "already_rated": "the case has been rated",
    "transition_refused": "the case's state does not allow this action",
    "own_case": "a reporter cannot support their own case",
    "already_supported": "already supported",
    "stale_version": "someone changed the record since you read it",
    "unknown_action": "no such case action",
    "unsupported_media": "the attachment type is not accepted",
    "bbox_invalid": "the bbox is malformed",
    "zoom_invalid": "the zoom is out of range",
    "bbox_too_large": "the bbox is too large for this zoom",
    "sensors_not_normal": "the warning's sensors are not back to normal",
    "no_responsible_person": "the unit has no responsible person",
    "task_closed": "the task is closed",
}


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message_key: str,
        *,
        details: Any = None,
        error_code: str | None = None,
        status_code: int | None = None,
        **params: Any,
    ) -> None:
        # ``error_code`` (a word of CODES) and the message's ``params`` are kept apart: a parameter
        # named ``code`` (a unit's code, a sensor's code) fills the message's {code}, nothing else.
        super().__init__(message_key)
        self.message_key = message_key
        self.params = params
        self.details = details
        if error_code:
            self.code = error_code
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
