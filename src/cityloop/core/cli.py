"""``cityloop audit …``"""

from __future__ import annotations

import typer

from cityloop.core.cliutil import cli_errors, console, err_console

audit_app = typer.Typer(help="The append-only audit trail", no_args_is_help=True)


@audit_app.command("verify")
@cli_errors
def verify_cmd() -> None:
    """Walk the hash chain; report the first broken link (exit 1 if any)."""
    from cityloop.core import audit
    from cityloop.core.db import session_scope

    with session_scope(write=False) as session:
        result = audit.verify(session)
    if result.ok:
        console.print(f"audit chain intact: {result.checked} records")
        return
    err_console.print(
        f"audit chain BROKEN at record {result.broken_id}: {result.reason} "
        f"({result.checked} records intact before it)"
    )
    raise typer.Exit(1)
