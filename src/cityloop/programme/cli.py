"""``cityloop programme …``: the supervision scan, ledgers and the monthly ranking from the shell."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy.orm import Session

from cityloop.core.audit import Actor
from cityloop.core.cliutil import cli_errors, console
from cityloop.core.permissions import Principal

programme_app = typer.Typer(help="The ten actions: supervision, ledgers, evaluation", no_args_is_help=True)
CLI_ACTOR = Actor("cli")


def _principal(session: Session, username: str) -> Principal:
    from cityloop.org import service as org

    return org.principal_for(org.get_user(session, username=username))


@programme_app.command("scan")
@cli_errors
def scan() -> None:
    """Run one supervision scan now (colours, notices, reminders, escalations)."""
    from cityloop.core.db import session_scope
    from cityloop.programme import supervision

    with session_scope() as session:
        result = supervision.scan(session, actor=CLI_ACTOR)
    console.print(result.as_dict())


@programme_app.command("template")
@cli_errors
def template(out: Path = typer.Argument(..., help="where to write the .xlsx template")) -> None:
    """Write the Excel task-list template of the current programme."""
    from cityloop.core.db import session_scope
    from cityloop.programme import ledger, service

    with session_scope(write=False) as session:
        out.write_bytes(ledger.template(session, programme=service.get_programme(session), locale="zh-CN"))
    console.print(f"template written: {out}")


@programme_app.command("import-ledger")
@cli_errors
def import_ledger(
    file: Path = typer.Argument(..., help="a filled-in template (.xlsx)"),
    as_user: str = typer.Option("supervisor", "--as", help="account the import is made as (scope and audit)"),
) -> None:
    """Import a task list; all or nothing, every error printed with its sheet, row and column."""
    from cityloop.core.cliutil import fail
    from cityloop.core.db import session_scope
    from cityloop.core.errors import ValidationFailed
    from cityloop.programme import ledger, service

    content = file.read_bytes()
    try:
        with session_scope() as session:
            principal = _principal(session, as_user)
            counts = ledger.import_ledger(
                session,
                principal=principal,
                programme=service.get_programme(session),
                content=content,
                locale="zh-CN",
            )
    except ValidationFailed as exc:
        for err in (exc.details or {}).get("errors", []):
            console.print(
                f"{err['sheet']} row {err['row']} [{err['column']}]: {err['message']}", markup=False
            )
        raise fail(exc.message("en")) from None
    console.print(f"imported {counts['tasks']} tasks, {counts['milestones']} milestones")


@programme_app.command("export-ledger")
@cli_errors
def export_ledger(
    out: Path = typer.Argument(..., help="where to write the .xlsx ledger"),
    as_user: str = typer.Option("supervisor", "--as", help="account whose scope is exported"),
) -> None:
    """Export the task ledger as the given account sees it."""
    from cityloop.core.db import session_scope
    from cityloop.programme import ledger, service

    with session_scope(write=False) as session:
        data = ledger.export(
            session,
            principal=_principal(session, as_user),
            programme=service.get_programme(session),
            locale="zh-CN",
        )
    out.write_bytes(data)
    console.print(f"ledger written: {out}")


@programme_app.command("evaluate")
@cli_errors
def evaluate(
    month: str = typer.Option(None, "--month", help="YYYY-MM; default this month"),
    fresh: bool = typer.Option(False, "--fresh", help="count live instead of reading the snapshot"),
) -> None:
    """Print the month's scores per department and street/town (the 红黑榜)."""
    from cityloop.core.db import session_scope
    from cityloop.programme import evaluation, service
    from cityloop.programme.workflow import today

    with session_scope(write=False) as session:
        result = evaluation.evaluate(
            session, programme=service.get_programme(session), month=month, today=today()
        )
        for level in ("action", "department", "street"):
            console.print(f"== {level} ({result.month}, as of {result.as_of})")
            for s in result.levels[level]:
                console.print(
                    f"{s.rank or '-':>3} {s.score if s.score is not None else '-':>6}  {s.name}", markup=False
                )
