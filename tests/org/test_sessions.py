"""Sessions that end: forged cookies get nothing; logout, a new password, deactivation, a lock and "sign out
everywhere" end a session for good; an idle or too old session ends by itself (on the injectable clock)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from datetime import UTC, datetime

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from cityloop.config import get_settings
from cityloop.core.clock import FrozenClock, set_clock
from cityloop.org.demo import DEMO_PASSWORD
from cityloop.org.models import User

OLD_DEFAULT_SECRET = "change-me-this-is-the-demo-secret"
NEW_ADMIN = {"username": "mallory", "password": "forged-admin-1", "role": "admin", "unit": "500107"}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None, "no CSRF field on the page"
    return match.group(1)


def sign_in(client, username: str, password: str = DEMO_PASSWORD):
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )


def signed_in(client, username: str) -> tuple[str, str]:
    """Sign in; returns (the session cookie, the page's CSRF token)."""
    assert sign_in(client, username).status_code == 303
    home = client.get("/")
    assert home.status_code == 200
    return client.cookies["cityloop_session"], csrf_of(home.text)


def starlette_cookie(secret: str, payload: dict) -> str:
    """A session cookie as the old SessionMiddleware wrote it: the session itself, signed."""
    data = base64.b64encode(json.dumps(payload).encode())
    return TimestampSigner(secret).sign(data).decode()


def session_cookie(secret: str, kind: str, ident: str) -> str:
    return TimestampSigner(secret, salt="cityloop.session").sign(f"{kind}.{ident}".encode()).decode()


def replay(client, cookie: str, csrf: str) -> tuple[int, int]:
    """(GET /admin/users, POST /api/v1/users creating an admin) with a copied cookie and CSRF token."""
    client.cookies.clear()
    client.cookies.set("cityloop_session", cookie)
    page = client.get("/admin/users", follow_redirects=False)
    client.cookies.set("cityloop_session", cookie)
    post = client.post("/api/v1/users", json=NEW_ADMIN, headers={"X-CSRF-Token": csrf})
    return page.status_code, post.status_code


def no_new_admin(db) -> bool:
    return db.scalar(select(func.count()).select_from(User).where(User.username == "mallory")) == 0


def test_a_cookie_signed_with_the_old_published_secret_gets_nothing(client, db) -> None:
    admin = db.scalar(select(User).where(User.username == "admin"))
    forged = starlette_cookie(
        OLD_DEFAULT_SECRET, {"uid": admin.id, "epoch": admin.session_epoch, "csrf": "x"}
    )
    assert replay(client, forged, "x") == (303, 401)
    assert no_new_admin(db)


def test_a_cookie_forged_with_the_servers_own_secret_gets_nothing(client, db) -> None:
    """Even whoever knows the secret cannot write a session: the cookie names a row, it is not the session."""
    admin = db.scalar(select(User).where(User.username == "admin"))
    secret = get_settings().secret_key
    old_style = starlette_cookie(secret, {"uid": admin.id, "epoch": admin.session_epoch, "csrf": "x"})
    assert replay(client, old_style, "x") == (303, 401)
    # The right format, validly signed, but no such session.
    ident = secrets.token_urlsafe(32)
    forged = session_cookie(secret, "s", ident)
    client.cookies.set("cityloop_session", forged)
    csrf = csrf_of(client.get("/login").text)  # the token that would belong to that id
    assert replay(client, forged, csrf) == (303, 401)
    assert no_new_admin(db)


def test_a_session_cookie_carries_only_a_signed_random_id(client, db) -> None:
    from cityloop.org.models import UserSession

    cookie, _ = signed_in(client, "admin")
    payload = TimestampSigner(get_settings().secret_key, salt="cityloop.session").unsign(cookie).decode()
    kind, ident = payload.split(".")
    assert kind == "s" and len(ident) == 43
    row = db.get(UserSession, hashlib.sha256(ident.encode()).hexdigest())
    assert row is not None and row.user.username == "admin" and row.address == "testclient"
    assert db.scalar(select(func.count()).select_from(UserSession).where(UserSession.id == ident)) == 0


def test_logout_ends_the_session_for_a_copied_cookie_too(client, db) -> None:
    cookie, csrf = signed_in(client, "admin")
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert replay(client, cookie, csrf) == (303, 401)
    assert no_new_admin(db)


@pytest.mark.parametrize(
    "change",
    [
        {"password": "a-brand-new-one"},
        {"active": False},
        {"lock_minutes": 30},
        {"sign_out": True},
        {"role": "citizen"},
    ],
    ids=["password", "deactivation", "lock", "sign-out-everywhere", "role"],
)
def test_an_account_change_ends_all_its_sessions(client, db, token_for, change) -> None:
    from fastapi.testclient import TestClient

    from cityloop.app import create_app

    with TestClient(create_app(), base_url="http://testserver") as other:
        other_cookie, other_csrf = signed_in(other, "supervisor")  # another browser of the same account
    cookie, csrf = signed_in(client, "supervisor")
    assert client.get("/admin/units").status_code == 200
    r = client.patch("/api/v1/users/supervisor", json=change, headers=token_for("admin"))
    assert r.status_code == 200, r.text
    from cityloop.org.models import UserSession

    for kept_cookie, kept_csrf in ((cookie, csrf), (other_cookie, other_csrf)):
        client.cookies.clear()
        client.cookies.set("cityloop_session", kept_cookie)
        assert client.get("/admin/units", follow_redirects=False).status_code == 303
        client.cookies.set("cityloop_session", kept_cookie)
        assert (
            client.post(
                "/api/v1/people", json={"name": "x", "unit": "500107"}, headers={"X-CSRF-Token": kept_csrf}
            )
        ).status_code == 401
    reasons = db.scalars(
        select(UserSession.revoked_reason).join(User).where(User.username == "supervisor")
    ).all()
    assert len(reasons) == 2 and None not in reasons


def test_saving_an_account_without_changes_keeps_its_sessions(client, token_for) -> None:
    signed_in(client, "supervisor")
    r = client.patch("/api/v1/users/supervisor", json={"display_name": "督导"}, headers=token_for("admin"))
    assert r.status_code == 200
    assert client.get("/admin/units", follow_redirects=False).status_code == 200


def test_an_idle_session_ends_and_activity_keeps_it_alive(client, db) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 1, 0, tzinfo=UTC))
    set_clock(clock)
    idle = get_settings().session_idle_minutes
    signed_in(client, "dispatcher")
    for _ in range(3):  # active every idle-1 minutes: alive well past one idle period
        clock.advance(minutes=idle - 1)
        assert client.get("/", follow_redirects=False).status_code == 200
    clock.advance(minutes=idle, seconds=1)
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/"


def test_a_session_ends_at_its_absolute_lifetime_however_busy(client) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 1, 0, tzinfo=UTC))
    set_clock(clock)
    signed_in(client, "dispatcher")
    lifetime_minutes = get_settings().session_max_age_seconds // 60
    step = get_settings().session_idle_minutes // 2
    for _ in range(lifetime_minutes // step - 1):
        clock.advance(minutes=step)
        assert client.get("/", follow_redirects=False).status_code == 200
    clock.advance(minutes=2 * step)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_last_seen_is_written_at_most_once_a_minute(client, db) -> None:
    from cityloop.org.models import UserSession

    clock = FrozenClock(datetime(2026, 11, 30, 1, 0, tzinfo=UTC))
    set_clock(clock)
    signed_in(client, "dispatcher")
    row_id = db.scalar(select(UserSession.id).join(User).where(User.username == "dispatcher"))

    def last_seen() -> datetime:
        db.expire_all()
        return db.get(UserSession, row_id).last_seen_at

    start = last_seen()
    clock.advance(seconds=30)
    client.get("/")
    assert last_seen() == start
    clock.advance(seconds=31)
    client.get("/")
    assert last_seen() == clock.current


def test_the_csrf_token_belongs_to_one_session(client, db) -> None:
    from fastapi.testclient import TestClient

    from cityloop.app import create_app

    anonymous = csrf_of(client.get("/login").text)
    _, mine = signed_in(client, "admin")
    assert mine != anonymous  # a new token at sign-in
    with TestClient(create_app(), base_url="http://testserver") as other:
        _, theirs = signed_in(other, "admin")
    body = {"code": "x-csrf", "name": "n", "kind": "grid", "parent": "500107001000-C1"}
    assert client.post("/api/v1/units", json=body, headers={"X-CSRF-Token": theirs}).status_code == 403
    assert client.post("/api/v1/units", json=body, headers={"X-CSRF-Token": anonymous}).status_code == 403
    assert client.post("/api/v1/units", json=body, headers={"X-CSRF-Token": mine}).status_code == 201


def test_signing_in_again_replaces_the_session(client) -> None:
    first, csrf = signed_in(client, "admin")
    assert sign_in(client, "street").status_code == 303
    assert replay(client, first, csrf)[0] == 303


def test_page_preferences_are_kept_in_the_session(client, db) -> None:
    """request.session still remembers per-session choices (the programme shown), now in the row."""
    from cityloop.core.audit import Actor
    from cityloop.org import service as org
    from cityloop.programme import service as programmes

    programmes.create_programme(
        db, actor=Actor("test"), code="old-2019", name="2019 行动", year=2019, owner=org.district_root(db)
    )
    db.commit()
    signed_in(client, "supervisor")
    assert 'value="old-2019" selected' not in client.get("/programme/problems").text
    assert 'value="old-2019" selected' in client.get("/programme/problems?programme=old-2019").text
    assert 'value="old-2019" selected' in client.get("/programme/problems").text  # remembered
    from fastapi.testclient import TestClient

    from cityloop.app import create_app

    with TestClient(create_app(), base_url="http://testserver") as other:
        signed_in(other, "supervisor")  # another session of the same account: its own choice
        assert 'value="old-2019" selected' not in other.get("/programme/problems").text
