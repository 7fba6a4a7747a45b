"""One seeded world for the whole matrix module: built once (accounts, tokens, signed-in browsers, the
records of every kind), inside a transaction that is rolled back at the end of the module; each test
runs inside a savepoint of its own, so writes that went through (the controls) are undone too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.authz.scopes import ANON
from tests.authz.world import PASSWORD, World


def _clear_caches() -> None:
    from cityloop.cases import cache
    from cityloop.core import authcache
    from cityloop.twin import api, impact

    authcache.clear()
    cache.clear_all()
    impact._topologies.clear()
    api._INGESTOR.reset()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


class Browser:
    """A signed-in browser: the session cookie and the CSRF token its pages carry."""

    def __init__(self, app: Any, username: str) -> None:
        from fastapi.testclient import TestClient

        self.client = TestClient(app, base_url="http://testserver")
        self.client.__enter__()
        form = self.client.get("/login")
        r = self.client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf": csrf_of(form.text), "next": "/"},
            follow_redirects=False,
        )
        assert r.status_code == 303, f"sign-in of {username}: {r.status_code}"
        self.csrf = csrf_of(self.client.get("/").text)
        self.cookies = dict(self.client.cookies)

    def restore(self) -> None:
        """Back to the signed-in session (a test may have ended it, e.g. by changing the password)."""
        self.client.cookies.clear()
        for name, value in self.cookies.items():
            self.client.cookies.set(name, value)

    def close(self) -> None:
        self.client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def world(template_db: str) -> Iterator[World]:
    from fastapi.testclient import TestClient
    from sqlalchemy.orm import Session

    from cityloop.app import create_app
    from cityloop.core import db as core_db

    engine = core_db.get_engine(template_db)
    connection = engine.connect()
    outer = connection.begin()

    def factory() -> Session:
        return Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)

    core_db.override_sessions(factory)
    _clear_caches()
    app = create_app()
    api = TestClient(app, base_url="http://testserver")
    api.__enter__()
    browsers: dict[str, Browser] = {}
    try:
        w = World(factory, api).build()
        w.connection = connection
        for username in w.accounts:
            if username != ANON:
                browsers[username] = Browser(app, username)
        w.browsers = browsers
        yield w
    finally:
        for b in browsers.values():
            b.close()
        api.__exit__(None, None, None)
        core_db.override_sessions(None)
        if outer.is_active:
            outer.rollback()
        connection.close()
        engine.dispose()  # PostgreSQL copies the template only when nobody is connected to it
        _clear_caches()


@pytest.fixture
def matrix(world: World) -> Iterator[World]:
    """The world, with everything this test changes undone afterwards."""
    savepoint = world.connection.begin_nested()
    try:
        yield world
    finally:
        if savepoint.is_active:
            savepoint.rollback()
        _clear_caches()
        for b in world.browsers.values():
            b.restore()
