"""``cityloop resources …``: building ledgers in Excel and the grading system."""

from __future__ import annotations

from pathlib import Path

import typer

from cityloop.core.audit import Actor
from cityloop.core.cliutil import cli_errors, console, fail

resources_app = typer.Typer(help="Idle spaces and industrial/office buildings", no_args_is_help=True)
CLI_ACTOR = Actor("cli")


@resources_app.command("load-default-grading")
@cli_errors
def load_default_grading() -> None:
    """Configure the default building grading system (an existing one with the same code is replaced)."""
    from cityloop.core.db import session_scope
    from cityloop.resources import grading

    with session_scope() as session:
        row = grading.load_default_system(session, actor=CLI_ACTOR)
        console.print(
            f"grading system {row.code}: {len(row.indicators)} indicators, grades "
            + "/".join(str(g["grade"]) for g in row.grades)
        )


@resources_app.command("building-template")
@cli_errors
def building_template(out: Path = typer.Option(..., "--out", help=".xlsx file to write")) -> None:
    """Write the Excel template for buildings and their indicators."""
    from cityloop.core.db import session_scope
    from cityloop.resources import excel

    with session_scope(write=False) as session:
        out.write_bytes(excel.template(session))
    console.print(f"wrote {out}")


@resources_app.command("import-buildings")
@cli_errors
def import_buildings(file: Path = typer.Argument(..., help=".xlsx in the template's layout")) -> None:
    """Import buildings and indicator reports; every cell is checked and nothing is saved on error."""
    from cityloop.core.db import session_scope
    from cityloop.resources import excel

    if not file.is_file():
        raise fail(f"file not found: {file}")
    with session_scope() as session:
        counts = excel.import_workbook(
            session, actor=CLI_ACTOR, principal=None, data=file.read_bytes(), filename=file.name
        )
    console.print(
        f"{counts['buildings']} buildings and {counts['reports']} reports imported from {file.name}"
    )


@resources_app.command("export-grading")
@cli_errors
def export_grading(
    period: str = typer.Option(..., "--period", help="2026, 2026-Q3 or 2026-09"),
    out: Path = typer.Option(..., "--out", help=".xlsx file to write"),
) -> None:
    """Write the graded ranking of a period (scores, grades, trend, drivers) to Excel."""
    from cityloop.core.db import session_scope
    from cityloop.resources import excel

    with session_scope(write=False) as session:
        out.write_bytes(excel.export_ranking(session, period=period, principal=None))
    console.print(f"wrote {out}")
