"""What every route shares: the request's session, who is signed in, the language, CSRF, errors.

Routes declare what they need through the typed aliases at the bottom (``DB``, ``CurrentPrincipal``,
``Locale``). Write routes commit explicitly at their end, so a 2xx is only ever sent for a
committed transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityloop.config import get_settings
from cityloop.core.db import new_session
from cityloop.core.errors import AppError, Forbidden, Unauthorized, ValidationFailed
from cityloop.core.i18n import from_accept_language, normalise, translate
from cityloop.core.permissions import Principal
from cityloop.core.security import new_csrf_token, same_token
from cityloop.core.validation import bad_char, parse_int, strip_controls

log = logging.getLogger("cityloop.http")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_USER = "uid"
SESSION_EPOCH = "epoch"
SESSION_CSRF = "csrf"


def get_db(request: Request) -> Iterator[Session]:
    session = new_session(write=request.method not in SAFE_METHODS)
    try:
        yield session
    finally:
        session.rollback()  # no-op after the route committed; undoes anything half-done
        session.close()


def request_locale(request: Request) -> str:
    """The language of the reply: explicit cookie, then Accept-Language, then zh-CN."""
    cookie = request.cookies.get("lang")
    if cookie:
        return normalise(cookie)
    return from_accept_language(request.headers.get("accept-language")) or get_settings().default_locale


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def optional_principal(request: Request, db: Annotated[Session, Depends(get_db)]) -> Principal | None:
    from cityloop.org import service as org

    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token = _bearer(request)
    principal: Principal | None = None
    if token:
        from cityloop.core import authcache

        principal = authcache.principal_for_token(db, token=token)
    else:
        uid = request.session.get(SESSION_USER) if "session" in request.scope else None
        if uid is not None:
            from cityloop.org.models import User

            user = db.get(User, uid)
            if user is not None and user.active and user.session_epoch == request.session.get(SESSION_EPOCH):
                principal = org.principal_for(user)
            else:
                request.session.clear()
    request.state.principal = principal
    return principal


def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise Unauthorized("error.not_signed_in")
    return principal


def csrf_token(request: Request) -> str:
    token = request.session.get(SESSION_CSRF)
    if not token:
        token = new_csrf_token()
        request.session[SESSION_CSRF] = token
    return str(token)


async def csrf_guard(request: Request) -> None:
    """App-wide: a signed-in browser's unsafe request must carry the session's CSRF token, in the
    ``csrf`` form field or the ``X-CSRF-Token`` header. Bearer-token clients send no cookies and
    are exempt; the sign-in form checks its own token."""
    if request.method in SAFE_METHODS or _bearer(request) or "session" not in request.scope:
        return
    if request.session.get(SESSION_USER) is None:
        return
    form_value = None
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form_value = (await request.form()).get("csrf")  # already parsed and cached for the route
    check_csrf(request, form_value if isinstance(form_value, str) else None)


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


async def form_text_guard(request: Request) -> None:
    """App-wide: the text fields of a form (URL-encoded or multipart) hold no control characters but
    tab and line breaks (a NUL would reach the database; PostgreSQL refuses it). JSON is checked on its
    raw bytes by ``core.jsonlimits.InputGuard``; a form is checked once parsed (Starlette caches it for
    the route), so a page's refusal is shown on a page in the user's language. Open311 checks its own
    fields and answers in its own error format."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(FORM_TYPES) or request.url.path.startswith("/open311/"):
        return
    form = await request.form()
    for key, value in form.multi_items():
        if (isinstance(value, str) and bad_char(value) is not None) or bad_char(key) is not None:
            raise ValidationFailed(
                "error.control_character_field",
                error_code="control_character",
                details={"field": strip_controls(key)[:60]},
                field=strip_controls(key)[:60],
            )


def check_csrf(request: Request, form_value: str | None = None) -> None:
    """Cookie-authenticated unsafe requests must echo the session's CSRF token (header or form)."""
    sent = form_value or request.headers.get("x-csrf-token")
    if not same_token(sent, request.session.get(SESSION_CSRF)):
        raise Forbidden("error.csrf", error_code="csrf_failed")


DB = Annotated[Session, Depends(get_db)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
Locale = Annotated[str, Depends(request_locale)]


# --- errors ------------------------------------------------------------------------------------


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/open311/", "/healthz", "/openapi")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _validation_details(exc: RequestValidationError, locale: str) -> list[dict[str, Any]]:
    """One entry per refused field: its dotted name, what is wrong in the caller's language, the type.

    The raw input is never echoed (it may be 50,000 characters of garbage or a control character)."""
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        kind = str(err.get("type", ""))
        ctx = {k: (", ".join(map(str, v)) if isinstance(v, list | tuple) else v)
               for k, v in (err.get("ctx") or {}).items()}  # fmt: skip
        key = f"validation.type.{kind}"
        problem = translate(key, locale, **ctx)
        if problem == key or "{" in problem:  # a type the catalogue does not word: pydantic's text
            problem = str(err.get("msg", ""))
        out.append({"field": ".".join(loc), "problem": problem, "type": kind})
    return out


def install_error_handlers(app: FastAPI) -> None:
    from cityloop.web.pages import render_error_page

    async def app_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        locale = request_locale(request)
        if wants_html(request):
            return render_error_page(request, exc.status_code, exc.message(locale))
        return JSONResponse(
            error_body(exc.code, exc.message(locale), exc.details), status_code=exc.status_code
        )

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        locale = request_locale(request)
        details = _validation_details(exc, locale)
        if any(d["type"] == "json_invalid" for d in details):
            return JSONResponse(
                error_body("invalid_json", translate("error.invalid_json", locale), details), status_code=400
            )
        return JSONResponse(
            error_body("validation_error", translate("error.validation", locale), details), status_code=422
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        locale = request_locale(request)
        code = {
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthorized",
            413: "payload_too_large",
        }.get(exc.status_code, "http_error")
        message = translate(f"error.http_{exc.status_code}", locale)
        if message == f"error.http_{exc.status_code}":
            message = str(exc.detail)
        if wants_html(request):
            return render_error_page(request, exc.status_code, message)
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        locale = request_locale(request)
        return JSONResponse(
            error_body("internal_error", translate("error.internal", locale)), status_code=500
        )

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


class BodySizeLimit:
    """Refuse bodies over the configured size with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, default_limit: int, upload_limit: int) -> None:
        self.app = app
        self.default_limit = default_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").decode("latin-1")
        limit = self.upload_limit if ctype.startswith("multipart/") else self.default_limit
        declared = headers.get(b"content-length")
        size = parse_int(declared.decode("latin-1"), lo=0) if declared is not None else None
        if size is not None and size > limit:
            await self._reject(scope, send, limit)
            return
        received = 0

        async def guarded() -> Message:
            # Raised inside the route's body read, so the normal HTTP error handler answers 413.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(status_code=413)
            return message

        await self.app(scope, guarded, send)

    async def _reject(self, scope: Scope, send: Send, limit: int) -> None:
        request = Request(scope)
        locale = from_accept_language(request.headers.get("accept-language")) or get_settings().default_locale
        response = JSONResponse(
            error_body(
                "payload_too_large", translate("error.too_large", locale, limit=limit), {"limit": limit}
            ),
            status_code=413,
        )
        await response(scope, _noop_receive, send)


async def _noop_receive() -> Message:
    return {"type": "http.disconnect"}


class _FairQueue:
    """At most ``limit`` holders; waiters are let in strictly first come, first served.

    ``asyncio.Semaphore`` lets a newcomer take a place ahead of waiters already woken, and under a
    steady load of 50 clients that unfairness alone tripled the p99 latency of a report.
    """

    def __init__(self, limit: int) -> None:
        self.free = limit
        self.waiters: deque[asyncio.Future[None]] = deque()

    async def enter(self) -> None:
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter  # the place is ours when this resolves: leave() handed it over
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # handed to us just as we were cancelled: pass it on
            else:
                self.waiters.remove(waiter)
            raise

    def leave(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # hand the place over directly: no one can barge in
                return
        self.free += 1


class SQLiteWriteGate:
    """Let only a few unsafe requests at a time into the app when the database is SQLite.

    A write session takes SQLite's lock at its first statement (BEGIN IMMEDIATE, see ``core.db``), which
    happens in one worker thread, and releases it at commit, in a later thread of the same request. If
    every worker thread is parked waiting for that lock, the holder never gets a thread back to commit:
    the whole server stalls until ``busy_timeout`` fails them all. Waiting here, in the event loop,
    costs no thread; and since SQLite has one writer, nothing is lost by queueing before the lock.

    ``lanes`` gives some routes (``"POST /path"``) a queue of their own with its own limit: routes whose
    whole unit of work runs in one thread and never holds the lock while waiting for another thread
    (case intake, which writes through ``cases.groupcommit``). They need more requests in flight, for
    reports to be written together, and must not crowd out the rest.
    """

    def __init__(self, app: ASGIApp, limit: int = 2, lanes: dict[str, int] | None = None) -> None:
        self.app = app
        self.shared = _FairQueue(limit)
        self.lanes = {route: _FairQueue(n) for route, n in (lanes or {}).items()}
        url = get_settings().database_url
        self.enabled = url.startswith("sqlite")
        if self.enabled:
            from cityloop.core.db import start_wal_checkpointer

            start_wal_checkpointer(url)  # commits must not pay for checkpoints either

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http" or scope.get("method") in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        queue = self.lanes.get(f"{scope['method']} {scope['path']}", self.shared)
        await queue.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            queue.leave()
