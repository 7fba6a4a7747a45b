"""``cityloop cases …``: bulk import of cases and of the category taxonomy."""

from __future__ import annotations

from pathlib import Path

import typer

from cityloop.core.audit import Actor
from cityloop.core.cliutil import cli_errors, console, fail

cases_app = typer.Typer(help="Cases (一口响应): import history and categories", no_args_is_help=True)
CLI_ACTOR = Actor("cli")


@cases_app.command("import")
@cli_errors
def import_cases(
    file: Path = typer.Argument(..., help="CSV of cases (see `cityloop.cases.importer` for the columns)"),
    batch: int = typer.Option(5000, "--batch", min=100, max=100_000, help="rows per INSERT batch"),
) -> None:
    """Bulk-load cases from CSV in one transaction: all rows or none."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from cityloop.cases import importer
    from cityloop.core.db import session_scope
    from cityloop.core.i18n import translate
    from cityloop.core.migrate import ensure_current

    if not file.is_file():
        raise fail(f"file not found: {file}")
    ensure_current()
    with file.open("rb") as fh:  # the row count lets a large SQLite load build its indexes once
        expected = max(0, sum(1 for _ in fh) - 1)
    columns = (
        TextColumn("importing"),
        BarColumn(),
        TextColumn("{task.completed:,} cases"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar, session_scope() as session:
        task = bar.add_task("import", total=None)
        stats = importer.import_rows(
            session,
            actor=CLI_ACTOR,
            rows=importer.read_csv(file),
            label=file.name,
            batch=batch,
            progress=lambda n: bar.advance(task, n),
            expected=expected,
        )
    console.print(translate("cases.import.done", "en", count=f"{stats.count:,}", rate=f"{stats.rate:,.0f}"))


@cases_app.command("import-categories")
@cli_errors
def import_categories(
    file: Path = typer.Argument(..., help="CSV with kind, major_code, major_name, minor_code, minor_name"),
    scheme: str = typer.Option(None, "--scheme", help="load only this scheme, e.g. CJT214-2007"),
) -> None:
    """Create or update category leaves by code; existing leaves keep their handling settings."""
    from cityloop.cases import categories
    from cityloop.core.db import session_scope
    from cityloop.core.i18n import translate
    from cityloop.core.migrate import ensure_current

    if not file.is_file():
        raise fail(f"file not found: {file}")
    ensure_current()
    with session_scope() as session:
        result = categories.import_csv(session, actor=CLI_ACTOR, path=file, scheme=scheme)
    console.print(
        translate(
            "cases.import.categories_done",
            "en",
            created=len(result.created),
            updated=len(result.updated),
            unchanged=result.unchanged,
            skipped=result.skipped,
        )
    )


open311_app = typer.Typer(help="Open311 GeoReport v2: api keys of reporting apps", no_args_is_help=True)
keys_app = typer.Typer(help="api keys (only their hash is stored)", no_args_is_help=True)
open311_app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@cli_errors
def open311_key_create(name: str = typer.Option(..., "--name", help="the app the key is for")) -> None:
    """Create an api_key for an app; prints the key once (on its own last line)."""
    from cityloop.cases import open311_io
    from cityloop.core.db import session_scope
    from cityloop.core.i18n import translate

    with session_scope() as session:
        key = open311_io.create_key(session, actor=CLI_ACTOR, name=name)
    console.print(translate("cases.open311.key_created", "en", name=name), highlight=False)
    print(key)
