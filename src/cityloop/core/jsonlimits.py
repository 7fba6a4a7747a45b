"""InputGuard: the checks on a request's raw bytes, before any route parses them.

- the path and the query string: no control characters (a NUL must never reach PostgreSQL);
- a JSON body: nested at most ``MAX_DEPTH`` deep (a 50,000-deep list blows Python's recursion limit in
  the parser), no number literal longer than ``MAX_NUMBER_CHARS`` (a 5,000-digit integer makes
  ``json.loads`` raise), no escaped or raw control characters, lone surrogates or U+FFFE/FFFF.

Forms are checked once parsed (``core.http.form_text_guard``), so a page shows its refusal as a page.

Refusals are the standard error body in the caller's language: 400 ``json_too_deep`` /
``number_too_long``, 422 ``control_character``. Most bodies are small and shallow: the cheap tests
(bracket count, one regex) decide without walking the body; only a body that might break a limit is
tokenised, strings skipped, so brackets and digits inside strings do not count.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityloop.core.validation import MAX_NUMBER_CHARS, bad_char

MAX_DEPTH = 64

# Outside a string: a string token (skipped), a bracket, or a number literal.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]|-?[0-9][0-9.eE+\-]*')
# Every byte a number literal may hold becomes "0", every other a blank: a run of 41 zeros is a number
# literal (or text) longer than the limit, found by one C-speed translate and substring search.
_NUMBER_CHARS = bytes(0x30 if chr(b) in "0123456789.eE+-" else 0x20 for b in range(256))
_NUMBER_RUN = b"0" * (MAX_NUMBER_CHARS + 1)
# \uXXXX escapes preceded by an odd number of backslashes that name a character no text may hold.
# Only the escapes that may name such a character (C0/C1 controls, DEL, surrogates, U+FFFE/FFFF): a
# body of escaped Chinese text (\u4e5d\u9f99…) never enters the Python loop below.
_ESCAPES = re.compile(
    rb"(?<!\\)(?:\\\\)*\\u(00[0189][0-9a-fA-F]|007[fF]|[dD][89a-fA-F][0-9a-fA-F]{2}|[fF]{3}[eEfF])"
)
_ESCAPE_HINT = re.compile(rb"\\u(?:00[0189]|007|[dD][89a-fA-F]|[fF][fF][fF])")
_RAW_BAD = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]|\xef\xbf[\xbe\xbf]")


def json_problem(body: bytes) -> tuple[int, str, dict[str, Any]] | None:
    """(status, code, details) of the first limit ``body`` breaks, or None."""
    # Cheap single-class scans first; the exact patterns only run on a body that may hold a bad character.
    # Raw C0 controls cannot pass the (strict) JSON parser; DEL, C1 and U+FFFE/FFFF can.
    if (b"\x7f" in body or b"\xc2" in body or b"\xef\xbf" in body) and _RAW_BAD.search(body):
        return 422, "control_character", {"where": "body"}
    if _ESCAPE_HINT.search(body) and _bad_escape(body):
        return 422, "control_character", {"where": "body"}
    deep = body.count(b"[") + body.count(b"{") > MAX_DEPTH
    long_number = _NUMBER_RUN in body.translate(_NUMBER_CHARS)
    if deep and not long_number:
        levels = _nesting_bounds(body)
        if levels is not None:
            return None if levels else (400, "json_too_deep", {"max_depth": MAX_DEPTH})
    elif not long_number:
        return None
    depth = 0
    for token in _TOKENS.finditer(body):
        first = token.group()[:1]
        if first == b'"':
            continue
        if first in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return 400, "json_too_deep", {"max_depth": MAX_DEPTH}
        elif first in (b"]", b"}"):
            depth -= 1
        elif token.end() - token.start() > MAX_NUMBER_CHARS:
            return 400, "number_too_long", {"max_chars": MAX_NUMBER_CHARS}
    return None


_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _nesting_bounds(body: bytes) -> bool | None:
    """True when the body is surely nested at most MAX_DEPTH deep, False when surely deeper, None when
    only the exact walk can tell. All in C: strings blanked, everything but brackets deleted, then each
    pass deletes the innermost pairs — at least one level and at most two per pass. A batch of 10,000
    flat readings takes two passes instead of a Python loop over 60,000 tokens."""
    brackets = _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS)
    passes = 0
    while brackets:
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if shorter == brackets:
            return None  # unbalanced: let the walk (or the parser) decide
        brackets, passes = shorter, passes + 1
        if passes > MAX_DEPTH:
            return False
    return True if passes * 2 <= MAX_DEPTH else None


def _bad_escape(body: bytes) -> bool:
    pending_high = False
    last_end = -1
    for found in _ESCAPES.finditer(body):
        code = int(found.group(1), 16)
        start = found.end() - 6
        if pending_high:
            pending_high = False
            if start == last_end and 0xDC00 <= code <= 0xDFFF:
                continue  # the low half of a pair: an escaped emoji
            return True  # a high surrogate not followed by a low one
        if 0xD800 <= code <= 0xDBFF:
            pending_high, last_end = True, found.end()
            continue
        if bad_char(chr(code)) is not None:
            return True
    return pending_high


def _url_problem(scope: Scope) -> str | None:
    path = scope.get("path", "")
    if bad_char(path, multiline=False) is not None:
        return "path"
    query = scope.get("query_string", b"")
    if query and (b"%" in query or _RAW_BAD.search(query)):
        try:
            text = unquote_to_bytes(query.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            return "query"
        if bad_char(text, multiline=False) is not None:
            return "query"
    return None


_MESSAGES = {
    "control_character": "error.control_character",
    "json_too_deep": "error.json_too_deep",
    "number_too_long": "error.number_too_long",
    "payload_too_large": "error.http_413",
}

# A refusal in another wire format for the paths under a prefix (Open311 answers its own error list):
# (scope, status, code, message) -> response.
Shape = Callable[[Scope, int, str, str], Response]


class InputGuard:
    """ASGI middleware applying the checks above; sits inside ``BodySizeLimit``."""

    def __init__(self, app: ASGIApp, shapes: dict[str, Shape] | None = None) -> None:
        self.app = app
        self.shapes = shapes or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = _url_problem(scope)
        if where is not None:
            await self._refuse(scope, send, 422, "control_character", {"where": where})
            return
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        is_json = b"json" in ctype or (not ctype and scope.get("method") in ("POST", "PUT", "PATCH"))
        if not is_json:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            try:
                message = await receive()
            except HTTPException as exc:  # BodySizeLimit: too large
                await self._refuse(scope, send, exc.status_code, "payload_too_large", None)
                return
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_problem(body)
        if problem is not None:
            await self._refuse(scope, send, *problem)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, status: int, code: str, details: Any) -> None:
        from cityloop.core.http import error_body, request_locale
        from cityloop.core.i18n import translate

        path = scope.get("path", "")
        shape = next((f for prefix, f in self.shapes.items() if path.startswith(prefix)), None)
        locale = "en" if shape else request_locale(Request(scope))
        params = dict(details) if isinstance(details, dict) else {}
        if "where" in params:
            params["where"] = translate(f"validation.where.{params['where']}", locale)
        message = translate(_MESSAGES[code], locale, **params)
        if shape is not None:
            response = shape(scope, status, code, message)
        else:
            response = JSONResponse(error_body(code, message, details), status_code=status)
        await response(scope, _disconnected, send)


async def _disconnected() -> Message:
    return {"type": "http.disconnect"}
