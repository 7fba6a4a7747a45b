"""``cityloop users …``, ``cityloop tokens …``, ``cityloop org …``"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from cityloop.core.audit import Actor
from cityloop.core.cliutil import cli_errors, console, fail

users_app = typer.Typer(help="Accounts", no_args_is_help=True)
tokens_app = typer.Typer(help="API bearer tokens", no_args_is_help=True)
org_app = typer.Typer(help="The district's organisation", no_args_is_help=True)
CLI_ACTOR = Actor("cli")


@users_app.command("create")
@cli_errors
def users_create(
    username: str = typer.Option(..., "--username"),
    password: str = typer.Option(..., "--password"),
    role: str = typer.Option(
        ...,
        "--role",
        help="admin, supervisor, leader, department, street, dispatcher, "
        "inspector, enforcement, operator or citizen",
    ),
    unit: str = typer.Option(..., "--unit", help="unit code or name"),
    display_name: str = typer.Option(None, "--display-name"),
) -> None:
    """Create an account in a unit with a role."""
    from cityloop.core.db import session_scope
    from cityloop.org import service

    with session_scope() as session:
        target = service.find_unit(session, ref=unit)
        user = service.create_user(
            session,
            actor=CLI_ACTOR,
            username=username,
            password=password,
            role=role,
            unit=target,
            display_name=display_name,
        )
        console.print(f"created {user.username} ({role}) in {target.name} [{target.code}]")


@tokens_app.command("create")
@cli_errors
def tokens_create(
    username: str = typer.Option(..., "--username"),
    name: str = typer.Option("cli", "--name", help="what the token is for"),
    days: int = typer.Option(
        None,
        "--days",
        help="expires after N days (default: CITYLOOP_TOKEN_DEFAULT_DAYS, 90; 0: never)",
        show_default=False,
    ),
) -> None:
    """Create a bearer token for an account; prints only the token."""
    from cityloop.core.db import session_scope
    from cityloop.org import service

    with session_scope() as session:
        user = service.get_user(session, username=username)
        token = service.create_token(session, actor=CLI_ACTOR, user=user, name=name, days=days)
    print(token)


@tokens_app.command("list")
@cli_errors
def tokens_list(username: str = typer.Option(None, "--username", help="only this account's tokens")) -> None:
    """Every token (of one account): id, name, account, created, expires, last used, revoked — never
    the token itself, which is not stored."""
    from rich.console import Console
    from rich.table import Table

    from cityloop.core.clock import now, to_display
    from cityloop.core.db import session_scope
    from cityloop.org import service

    def shown(moment: datetime | None, empty: str = "-") -> str:
        local = to_display(moment)
        return local.strftime("%Y-%m-%d %H:%M%z") if local else empty

    table = Table(title="API tokens")
    for column in ("id", "name", "user", "created", "expires", "last used", "revoked", "state"):
        table.add_column(column, no_wrap=column != "name")
    with session_scope(write=False) as session:
        current = now()
        for row in service.list_tokens(session, username=username):
            if row.revoked_at is not None:
                state = "revoked"
            elif row.expires_at is not None and row.expires_at <= current:
                state = "expired"
            else:
                state = "valid"
            table.add_row(
                str(row.id),
                row.name,
                row.user.username,
                shown(row.created_at),
                shown(row.expires_at, "never"),
                shown(row.last_used_at),
                shown(row.revoked_at),
                state,
            )
    # Wide enough for every column even when the output is not a terminal (scripts, logs).
    Console(width=max(console.width, 150)).print(table)


@tokens_app.command("revoke")
@cli_errors
def tokens_revoke(token: str = typer.Argument(..., help="the token, as printed by `tokens create`")) -> None:
    """Withdraw a bearer token (other server processes notice within 2 s; this process at once)."""
    from cityloop.core.db import session_scope
    from cityloop.org import service

    with session_scope() as session:
        row = service.revoke_token(session, actor=CLI_ACTOR, token=token)
    print(f"revoked token {row.id} ({row.name})")


@org_app.command("import-units")
@cli_errors
def import_units(
    file: Path = typer.Argument(..., help="GeoJSON FeatureCollection or DataV feature list"),
    kind: str = typer.Option(..., "--kind", help="district, street, town, community or grid"),
    name_field: str = typer.Option(..., "--name-field", help="property holding the unit's name"),
    crs: str = typer.Option("wgs84", "--crs", help="datum of the file: gcj02, bd09 or wgs84"),
) -> None:
    """Load real boundaries for existing units, matched by name; all or nothing."""
    from cityloop.core.db import session_scope
    from cityloop.core.i18n import translate
    from cityloop.org.importer import import_units as run_import

    if crs not in ("gcj02", "bd09", "wgs84"):
        raise fail(f"--crs must be gcj02, bd09 or wgs84, not {crs!r}")
    if not file.is_file():
        raise fail(f"file not found: {file}")
    with session_scope() as session:
        result = run_import(session, actor=CLI_ACTOR, path=file, kind=kind, name_field=name_field, crs=crs)
    console.print(
        translate("import.done", "en", count=len(result.updated), crs=crs) + " " + ", ".join(result.updated)
    )
