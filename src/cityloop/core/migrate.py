"""Alembic, driven from code: ``cityloop init`` and the test suite use the same history."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from cityloop.config import PROJECT_ROOT, get_settings
from cityloop.core.db import get_engine
from cityloop.core.errors import AppError


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", (url or get_settings().database_url).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None) -> str:
    url = url or get_settings().database_url
    get_engine(url)  # creates var/ for SQLite
    command.upgrade(alembic_config(url), "head")
    return url


def ensure_current(url: str | None = None) -> None:
    """Refuse to run against a database that is not at the latest schema."""
    url = url or get_settings().database_url
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with get_engine(url).connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        raise AppError("error.schema_outdated", current=current or "empty", head=head)
