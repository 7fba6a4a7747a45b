"""``cityloop cases …``: bulk import of cases and of the category taxonomy."""

from __future__ import annotations

from pathlib import Path

import typer

from cityloop.core.audit import Actor
from cityloop.core.cliutil import cli_errors, cli_locale, console, err_console, fail

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
    if stats.count >= importer.DEFER_INDEXES_FROM:
        _vacuum_after_load()


def _vacuum_after_load() -> None:
    """After a large load into PostgreSQL, VACUUM ANALYZE ``cases`` (outside the import's transaction, as
    VACUUM must be): it sets the visibility map, without which the map's and the indicators' index-only
    scans read the heap for every row until autovacuum comes (measured: the map of a million cases 2.7 s
    before, 0.3 s after)."""
    from sqlalchemy.exc import OperationalError

    from cityloop.core.db import get_engine
    from cityloop.core.i18n import translate

    engine = get_engine()
    if engine.dialect.name != "postgresql":
        return
    # VACUUM waits for any transaction holding a conflicting lock on ``cases`` (an index build, another
    # VACUUM); the import is done and committed, so rather than hang behind one, say so and move on.
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"SET lock_timeout = '{VACUUM_LOCK_TIMEOUT}'")
            conn.exec_driver_sql("VACUUM ANALYZE cases")
    except OperationalError:
        err_console.print(translate("cases.import.vacuum_skipped", cli_locale(), timeout=VACUUM_LOCK_TIMEOUT))


VACUUM_LOCK_TIMEOUT = "10s"


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


@cases_app.command("indicators")
@cli_errors
def indicators_cmd(
    period: str = typer.Option("month", "--period", help="day | week | month | custom"),
    first: str = typer.Option(None, "--from", help="first day, YYYY-MM-DD or YYYY-MM"),
    last: str = typer.Option(None, "--to", help="last day (inclusive), YYYY-MM-DD or YYYY-MM"),
    group_by: str = typer.Option("unit", "--group-by", help="unit | street"),
    unit: str = typer.Option(None, "--unit", help="only this responsible unit's subtree (code)"),
    locale: str = typer.Option("zh-CN", "--lang", help="zh-CN | en"),
    xlsx: Path = typer.Option(None, "--xlsx", help="also write the Excel workbook here"),
) -> None:
    """按时派遣率, 准确派遣率, 按期处置率, 结案率, 按期结案率, 返工率, 延期率, 满意率 and the 12345 三率
    for the district (see docs)."""
    from rich.console import Console
    from rich.table import Table

    from cityloop.cases import indicators as ind
    from cityloop.cases.indicators_export import row_name, to_excel
    from cityloop.core.db import session_scope
    from cityloop.core.i18n import translate
    from cityloop.core.migrate import ensure_current

    ensure_current()
    with session_scope() as session:
        w = ind.window(period=period, first=first, last=last)
        groups = (group_by, *(g for g in ind.GROUPS if g != group_by)) if xlsx is not None else (group_by,)
        results = ind.compute_many(session, principal=None, w=w, group_bys=groups, unit=unit)
        res = results[group_by]
        session.rollback()
    title = translate("cases.indicators.range", locale, first=w.first.isoformat(), last=w.last.isoformat())
    table = Table(title=title)
    table.add_column(translate(f"cases.indicators.group.{group_by}", locale), no_wrap=True)
    for k in ind.RATES:
        table.add_column(translate(f"cases.indicators.rate.{k}", locale), justify="right")
    shown = ("reported", "registered", "handled")
    for k in shown:
        table.add_column(translate(f"cases.indicators.count.{k}", locale), justify="right")
    for r in [*res.rows, res.total]:
        cells = [row_name(r, locale, group_by)]
        cells += [f"{v * 100:.1f}%" if v is not None else "—" for v in r.rates.values()]
        cells += [f"{getattr(r.counts, k):,}" for k in shown]
        table.add_row(
            *cells,
            style="bold" if r.key == "total" else None,
            end_section=bool(res.rows) and r is res.rows[-1],
        )
    # A report, not a widget: wide enough for every column even when the output is not a terminal.
    Console(width=max(console.width, 200)).print(table)
    if xlsx is not None:
        try:
            xlsx.write_bytes(to_excel(results, locale=locale))
        except OSError as exc:
            raise fail(f"cannot write {xlsx}: {exc.strerror}") from exc
        console.print(str(xlsx))


@cases_app.command("rollup")
@cli_errors
def rollup_cmd(
    full: bool = typer.Option(False, "--full", help="recompute every month, not only the changed ones"),
) -> None:
    """Bring the indicators' monthly roll-ups up to date now (the worker does it every minute)."""
    from cityloop.cases import rollup
    from cityloop.core.db import session_scope
    from cityloop.core.migrate import ensure_current

    ensure_current()
    with session_scope() as session:
        months = rollup.refresh(session, full=full)
    console.print(f"{months} month(s) rolled up")


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
