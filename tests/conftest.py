"""Test harness: a migrated, seeded database per test run, on SQLite or PostgreSQL.

Set ``CITYLOOP_TEST_DATABASE_URL`` to a PostgreSQL URL to run the suite there (``make test`` runs it
on both). Each xdist worker gets its own database. Most tests use ``db``: one connection whose outer
transaction is rolled back after the test, while the code under test commits only savepoints — the
app, the CLI and the worker all get sessions on that connection. Tests that need real concurrency
or a server process use ``live_db``, a fresh copy of the seeded database.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
_TMP = Path(tempfile.mkdtemp(prefix="cityloop-tests-"))
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
PG_BASE = os.environ.get("CITYLOOP_TEST_DATABASE_URL", "")
IS_PG = PG_BASE.startswith("postgresql")


def _pg_url(name: str) -> str:
    base, _, _ = PG_BASE.rpartition("/")
    return f"{base}/{name}"


def _pg_admin(sql: str) -> None:
    import psycopg

    base, _, _ = PG_BASE.replace("postgresql+psycopg://", "postgresql://").rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(sql)


# Unique per checkout and xdist worker, so several checkouts can test against one server at once.
_CHECKOUT = hashlib.sha1(str(ROOT).encode()).hexdigest()[:6]
TEMPLATE_NAME = f"cityloop_test_{_CHECKOUT}_{WORKER}"
TEMPLATE_URL = _pg_url(TEMPLATE_NAME) if IS_PG else f"sqlite:///{_TMP / 'template.db'}"
# Everything that reads settings during the tests sees the test database.
os.environ["CITYLOOP_DATABASE_URL"] = TEMPLATE_URL
# A fresh random secret per run (servers started by tests inherit it): never a value from the repository.
os.environ.setdefault("CITYLOOP_SECRET_KEY", secrets.token_urlsafe(32))
os.environ.setdefault("CITYLOOP_SHARED_DIR", str(SHARED))


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    """Migrate from empty to head, then load the demo district. Shared read-only by the session."""
    from cityloop.core.db import reset_engines, session_scope
    from cityloop.core.migrate import upgrade
    from cityloop.seed import seed_all

    if IS_PG:
        _pg_admin(f'DROP DATABASE IF EXISTS "{TEMPLATE_NAME}" WITH (FORCE)')
        _pg_admin(f'CREATE DATABASE "{TEMPLATE_NAME}"')
    upgrade(TEMPLATE_URL)
    with session_scope(TEMPLATE_URL) as session:
        seed_all(session)
    reset_engines()
    yield TEMPLATE_URL
    reset_engines()
    if IS_PG:
        _pg_admin(f'DROP DATABASE IF EXISTS "{TEMPLATE_NAME}" WITH (FORCE)')
        for i in range(_copies[0]):
            _pg_admin(f'DROP DATABASE IF EXISTS "{TEMPLATE_NAME}_c{i}" WITH (FORCE)')


_copies = [0]


def copy_database(template: str) -> str:
    """A fresh, independent copy of the seeded database; returns its URL."""
    from cityloop.core.db import get_engine, reset_engines

    # The `db` fixture's pooled connection to the template would block CREATE DATABASE … TEMPLATE.
    get_engine(template).dispose()
    reset_engines()
    n = _copies[0]
    _copies[0] += 1
    if IS_PG:
        name = f"{TEMPLATE_NAME}_c{n}"
        # CREATE DATABASE … TEMPLATE needs the template to have no other sessions.
        _pg_admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{TEMPLATE_NAME}' AND pid <> pg_backend_pid()"
        )
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_NAME}"')
        return _pg_url(name)
    target = _TMP / f"copy{n}.db"
    shutil.copy(_TMP / "template.db", target)
    return f"sqlite:///{target}"


@pytest.fixture
def db(template_db: str) -> Iterator[Any]:
    """A session on the seeded database; everything the test (and the app) commits is rolled back."""
    from sqlalchemy.orm import Session

    from cityloop.core import db as core_db

    engine = core_db.get_engine(template_db)
    connection = engine.connect()
    outer = connection.begin()

    def factory() -> Session:
        return Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)

    core_db.override_sessions(factory)
    session = factory()
    try:
        yield session
    finally:
        core_db.override_sessions(None)
        session.close()
        if outer.is_active:
            outer.rollback()
        connection.close()


@pytest.fixture
def live_db(template_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private copy of the seeded database with real, independent connections."""
    from cityloop.config import get_settings
    from cityloop.core.db import reset_engines

    url = copy_database(template_db)
    monkeypatch.setenv("CITYLOOP_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    reset_engines()
    get_settings.cache_clear()


@pytest.fixture
def client(db: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from cityloop.app import create_app

    with TestClient(create_app(), base_url="http://testserver") as c:
        yield c


@pytest.fixture
def token_for(db: Any) -> Any:
    """token_for("street") -> a bearer header dict for that demo account."""
    from cityloop.core.audit import Actor
    from cityloop.org import service

    def make(username: str) -> dict[str, str]:
        user = service.get_user(db, username=username)
        token = service.create_token(db, actor=Actor("test"), user=user, name="test")
        db.commit()
        return {"Authorization": f"Bearer {token}"}

    return make


def shared_path(*parts: str) -> Path:
    """A file under ../shared; the calling test is skipped with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/{'/'.join(parts)} (not present in this checkout)")
    return path


@pytest.fixture(autouse=True)
def _restore_clock() -> Iterator[None]:
    from cityloop.core.clock import set_clock

    yield
    set_clock(None)
