"""create_app(): the one ASGI application — JSON API, Open311, web pages, static files."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from cityloop import __version__
from cityloop.config import get_settings
from cityloop.core import headers
from cityloop.core.http import (
    BodySizeLimit,
    SQLiteWriteGate,
    csrf_guard,
    form_text_guard,
    install_error_handlers,
)
from cityloop.core.jsonlimits import InputGuard
from cityloop.web.pages import LoginRequired, login_redirect

log = logging.getLogger("cityloop")


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="cityloop",
        version=__version__,
        description="Closed-loop urban governance platform (城市现代化治理闭环平台). API under /api/v1/.",
        dependencies=[Depends(csrf_guard), Depends(form_text_guard)],
        # FastAPI's /docs and /redoc pull their scripts from a CDN and start them inline: refused by the
        # CSP. /docs is web.pages' own page, served from static/vendor (decision 0014).
        docs_url=None,
        redoc_url=None,
        lifespan=_warm_caches_at_start if settings.warm_caches else None,
    )
    install_error_handlers(app)
    _word_bounds_in_openapi(app)
    app.add_exception_handler(LoginRequired, login_redirect)

    from cityloop import bridges

    bridges.install()

    from cityloop.cases import api as cases_api
    from cityloop.cases import api_indicators as cases_indicators_api
    from cityloop.cases import api_map as cases_map_api
    from cityloop.cases import open311, open311_io
    from cityloop.cases import web as cases_web
    from cityloop.cases import web_indicators as cases_indicators_web
    from cityloop.insight import api as insight_api
    from cityloop.insight import web as insight_web
    from cityloop.livability import api as livability_api
    from cityloop.livability import web as livability_web
    from cityloop.org import api as org_api
    from cityloop.org import web as org_web
    from cityloop.programme import api as programme_api
    from cityloop.programme import api_views as programme_api_views
    from cityloop.programme import web as programme_web
    from cityloop.resources import api as resources_api
    from cityloop.resources import web as resources_web
    from cityloop.twin import api as twin_api
    from cityloop.twin import web as twin_web
    from cityloop.web import pages

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(org_api.router)
    app.include_router(cases_indicators_api.router)  # before cases_api: /cases/indicators is no case id
    app.include_router(cases_map_api.router)  # before cases_api: /cases/map is no case id
    app.include_router(cases_api.router)
    app.include_router(open311.router)
    app.include_router(pages.router)
    app.include_router(cases_indicators_web.router)  # before any /cases/{id} page
    app.include_router(org_web.router)
    app.include_router(cases_web.router)
    app.include_router(programme_api.router)
    app.include_router(programme_api_views.router)
    app.include_router(programme_web.router)
    app.include_router(twin_api.router)
    app.include_router(twin_web.router)
    app.include_router(livability_api.router)
    app.include_router(livability_web.router)
    app.include_router(resources_api.router)
    app.include_router(resources_web.router)
    app.include_router(insight_api.router)
    app.include_router(insight_web.router)

    static = Path(__file__).resolve().parent / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="cityloop_session",
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.cookie_secure == "true",  # "auto": headers.SecurityHeaders adds Secure on HTTPS
    )
    # Case intake has a lane of its own: its reports are written in groups (cases.groupcommit).
    app.add_middleware(SQLiteWriteGate, lanes={"POST /api/v1/cases": 32})
    # Raw-byte checks (control characters, JSON depth and number length) before any route parses.
    app.add_middleware(InputGuard, shapes={"/open311/": open311_io.guard_refusal})
    # Outermost, so an oversized body is refused before anything else reads it.
    app.add_middleware(
        BodySizeLimit, default_limit=settings.max_body_bytes, upload_limit=settings.max_upload_bytes
    )
    headers.install(app, settings)  # CSP and the other security headers around everything (decision 0014)
    return app


def _word_bounds_in_openapi(app: FastAPI) -> None:
    from cityloop.core.validation import openapi_bounds

    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_bounds(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


@asynccontextmanager
async def _warm_caches_at_start(app: FastAPI) -> AsyncIterator[None]:
    """Fill per-process caches in a thread without delaying start-up; a failure only costs the first
    visitor time."""
    import threading

    def run() -> None:
        from cityloop.cases import categories, routing
        from cityloop.core.db import session_scope
        from cityloop.insight import intake
        from cityloop.programme import battlemap

        try:
            with session_scope(write=False) as session:
                # Intake's first: the area index, the categories and the classifier, so that the first
                # reports after a restart do not each wait for them (they took ~1 s under a burst).
                routing.areas(session)
                categories.leaves(session)
                intake.classifier(session)
                battlemap.warm(session)
        except Exception:  # never take the server down for a cache
            log.exception("warming the caches failed")

    threading.Thread(target=run, name="cityloop-warm", daemon=True).start()
    yield


def create_server_app() -> FastAPI:
    """The app as ``cityloop serve`` runs it: ``create_app`` with everything built so far frozen for the GC.

    Modules, routes, models and caches live as long as the process; a full collection walking them took
    0.4–0.9 s on the reference machine (all of it a pause of every request in flight). ``gc.freeze``
    moves them out of the collector's sight, so the collections that remain only see request garbage.
    """
    import gc

    app = create_app()
    gc.collect()
    gc.freeze()
    return app
