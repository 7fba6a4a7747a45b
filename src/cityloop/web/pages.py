"""Server-rendered pages: templates, the signed-in user on a page, sign-in/out, language, home, map.

Pages are Jinja2 + HTMX; every form carries the session's CSRF token. Domains add their own pages
in their ``web.py`` and templates under ``templates/<domain>/``, using ``render`` and ``PageUser``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from cityloop import __version__
from cityloop.config import get_settings
from cityloop.core.clock import to_display
from cityloop.core.errors import AppError
from cityloop.core.http import (
    DB,
    SESSION_CSRF,
    SESSION_EPOCH,
    SESSION_USER,
    check_csrf,
    csrf_token,
    optional_principal,
    request_locale,
)
from cityloop.core.i18n import LOCALES, translate
from cityloop.core.permissions import Principal, Role

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
router = APIRouter(include_in_schema=False)

# What each role's home page offers first (label key, link). Domains append their entries.
HOME_LINKS: dict[Role, list[tuple[str, str]]] = {role: [("nav.map", "/map")] for role in Role}
for _role in (Role.admin,):
    HOME_LINKS[_role] += [
        ("nav.units", "/admin/units"),
        ("nav.users", "/admin/users"),
        ("nav.audit", "/admin/audit"),
    ]
HOME_LINKS[Role.supervisor] += [("nav.units", "/admin/units"), ("nav.audit", "/admin/audit")]
for _role in (
    Role.leader,
    Role.department,
    Role.street,
    Role.dispatcher,
    Role.inspector,
    Role.enforcement,
    Role.operator,
):
    HOME_LINKS[_role] += [("nav.units", "/admin/units")]
# The ten actions (programme): the three tiers of the chain and the leaders.
for _role in (Role.supervisor, Role.leader, Role.department, Role.street):
    HOME_LINKS[_role] += [
        ("nav.programme_map", "/programme/map"),
        ("nav.programme_tasks", "/programme/tasks"),
        ("nav.programme_problems", "/programme/problems"),
        ("nav.programme_notices", "/programme/notices"),
        ("nav.programme_evaluation", "/programme/evaluation"),
        ("nav.programme_weekly", "/programme/reports/weekly"),
    ]
HOME_LINKS[Role.supervisor] += [("nav.programme_ledger", "/programme/ledger")]
for _role in (Role.operator, Role.admin, Role.supervisor, Role.leader, Role.dispatcher):
    HOME_LINKS[_role].insert(1, ("nav.twin", "/twin"))


# Case indicators (按时派遣率 …) for the leaders too (the supervisor's link comes with the case pages).
HOME_LINKS[Role.leader].append(("nav.cases_indicators", "/cases/indicators"))

# 15-minute circle and resources: staff with a scope of their own (departments see none of it).
for _role in (Role.admin, Role.supervisor, Role.leader, Role.street):
    HOME_LINKS[_role] += [
        ("nav.livability", "/livability"),
        ("nav.idle_spaces", "/resources/idle-spaces"),
        ("nav.buildings", "/resources/buildings"),
    ]

# Case intelligence: hotspots for the district roles and the chain; classifier versions for the dispatch side.
for _role in (Role.admin, Role.supervisor, Role.leader, Role.dispatcher, Role.department, Role.street):
    HOME_LINKS[_role] += [("nav.insight_hotspots", "/insight/hotspots")]
for _role in (Role.admin, Role.supervisor, Role.dispatcher):
    HOME_LINKS[_role] += [("nav.insight_models", "/insight/models")]


# The case loop (一口响应): reporting, the dispatcher's queue, units' inboxes, supervision.
HOME_LINKS[Role.citizen][0:0] = [
    ("nav.cases_report", "/cases/report"),
    ("nav.cases_mine", "/cases/mine"),
    ("nav.cases_track", "/track"),
]
HOME_LINKS[Role.dispatcher][1:1] = [("nav.cases_queue", "/cases/queue"), ("nav.cases_enter", "/cases/report")]
for _role in (Role.department, Role.street, Role.enforcement, Role.operator):
    HOME_LINKS[_role].insert(1, ("nav.cases_inbox", "/cases/inbox"))
for _role in (Role.inspector, Role.enforcement):
    HOME_LINKS[_role].insert(1, ("nav.cases_report", "/cases/report"))
HOME_LINKS[Role.inspector].insert(2, ("nav.cases_verify", "/cases/queue?state=feedback"))
for _role in (Role.supervisor, Role.leader, Role.admin):
    HOME_LINKS[_role].insert(1, ("nav.cases_queue", "/cases/queue"))
for _role in (Role.supervisor, Role.leader, Role.dispatcher):
    HOME_LINKS[_role].append(("nav.cases_overdue", "/cases/overdue"))
HOME_LINKS[Role.supervisor].append(("nav.cases_indicators", "/cases/indicators"))  # the indicators' page


# Links that depend on more than the role (e.g. the department that leads an action): domains add a
# function (session, principal) -> [(label key, link)], asked when the home page is drawn.
HOME_EXTRA_LINKS: list[Callable[[Session, Principal], list[tuple[str, str]]]] = []


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def _fmt_time(value: Any) -> str:
    shown = to_display(value)
    return shown.strftime("%Y-%m-%d %H:%M") if shown else ""


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    locale = request_locale(request)
    principal = getattr(request.state, "principal", None)
    settings = get_settings()
    base = {
        "request": request,
        "locale": locale,
        "locales": LOCALES,
        "t": lambda key, **kw: translate(key, locale, **kw),
        "csrf": csrf_token(request) if "session" in request.scope else "",
        "me": principal,
        "nav": HOME_LINKS.get(principal.role, []) if principal else [],
        "version": __version__,
        "base_tile_url": settings.base_tile_url,
        "base_tile_attribution": settings.base_tile_attribution,
        "fmt_time": _fmt_time,
    }
    base.update(context)
    return TEMPLATES.TemplateResponse(request, template, base, status_code=status_code)


def render_error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    return render(request, "core/error.html", status_code=status_code, message=message, status=status_code)


def page_user(
    request: Request, principal: Annotated[Principal | None, Depends(optional_principal)]
) -> Principal:
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return principal


PageUser = Annotated[Principal, Depends(page_user)]


def safe_next(target: str | None) -> str:
    """Only local paths: a crafted ?next= must not send a user to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "core/login.html", next=safe_next(next), error=None, username="")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    db: DB,
    username: Annotated[str, Form(max_length=80)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    from cityloop.core import audit
    from cityloop.org import service as org

    locale = request_locale(request)
    try:
        check_csrf(request, csrf)
        user = org.authenticate(db, username=username, password=password)
    except AppError as exc:
        db.commit()  # keep the failed-attempt counter even though sign-in failed
        return render(
            request,
            "core/login.html",
            status_code=exc.status_code,
            next=safe_next(next),
            error=exc.message(locale),
            username=username,
        )
    audit.record(db, actor=org.principal_for(user), action="login", entity_type="user", entity_id=user.id)
    db.commit()
    request.session.clear()
    request.session[SESSION_USER] = user.id
    request.session[SESSION_EPOCH] = user.session_epoch
    request.session[SESSION_CSRF] = csrf_token(request)
    response = RedirectResponse(safe_next(next), status_code=303)
    if "lang" not in request.cookies:
        response.set_cookie("lang", user.locale, max_age=365 * 86400, samesite="lax")
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{code}")
def switch_language(code: str, next: str = "/") -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        "lang", "en" if code.lower().startswith("en") else "zh-CN", max_age=365 * 86400, samesite="lax"
    )
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, me: PageUser, db: DB) -> HTMLResponse:
    from cityloop.org import service as org

    unit = org.get_unit(db, unit_id=me.unit_id)
    return render(
        request,
        "core/home.html",
        unit=unit,
        links=HOME_LINKS.get(me.role, []) + [link for extra in HOME_EXTRA_LINKS for link in extra(db, me)],
        role_key=f"role.{me.role.value}",
    )


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """The API explorer (FastAPI's own loads Swagger UI from a CDN with an inline script: see app.py)."""
    return render(request, "core/apidocs.html", openapi_url="/openapi.json")


@router.get("/map", response_class=HTMLResponse)
def district_map(request: Request, me: PageUser) -> HTMLResponse:
    return render(request, "core/map.html")


def login_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(safe_next(exc.next_url))}", status_code=303)
