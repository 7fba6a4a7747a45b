"""The one Alembic history builds the schema the models describe, on this run's database."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import cityloop.all_models  # noqa: F401
from cityloop.core.db import Base, get_engine
from cityloop.core.migrate import alembic_config


def test_history_has_a_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"several Alembic heads: {heads}; chain the new revision"


def test_upgrade_from_empty_matches_the_models(template_db: str) -> None:
    with get_engine(template_db).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"
