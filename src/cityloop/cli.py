"""The ``cityloop`` command. Each domain adds its sub-commands from its own ``cli.py``.

Errors a user can fix print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from cityloop.core.cliutil import cli_errors, console, err_console

app = typer.Typer(
    help="cityloop — closed-loop urban governance platform",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command()
@cli_errors
def init() -> None:
    """Create or upgrade the database schema (Alembic upgrade head)."""
    from cityloop.core.migrate import upgrade

    url = upgrade()
    console.print(f"database ready: {url}")


@app.command("seed-demo")
@cli_errors
def seed_demo() -> None:
    """Load the demo district (九龙坡区) once, then print one demo login per role."""
    from rich.table import Table

    from cityloop.core.db import session_scope
    from cityloop.core.migrate import ensure_current
    from cityloop.org.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
    from cityloop.seed import seed_all

    ensure_current()
    with session_scope() as session:
        created = seed_all(session, progress=console)
    console.print("demo district loaded" if created else "demo district already present; nothing changed")
    table = Table(title="demo logins · 演示账号 (password/密码: " + DEMO_PASSWORD + ")")
    table.add_column("username")
    table.add_column("role")
    table.add_column("unit")
    for username, role, unit, display in DEMO_ACCOUNTS:
        table.add_row(username, role, f"{unit} {display}")
    console.print(table)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, reload: bool = False) -> None:
    """Serve the web application and the API."""
    import uvicorn

    from cityloop.config import get_settings

    # The start-up heap is frozen out of the garbage collector's sight by create_server_app, in each
    # server process, once the app is built (decision 0010).
    if get_settings().secret_key.startswith("change-me"):
        err_console.print("warning: CITYLOOP_SECRET_KEY is the demo default; set your own in production")
    console.print(f"cityloop on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    os.environ.setdefault("CITYLOOP_WARM_CACHES", "1")  # each server process builds its caches at start
    uvicorn.run(
        "cityloop.app:create_server_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_level="info",
        # Behind a reverse proxy: the scheme (for Secure cookies) and the client address come from its
        # X-Forwarded-Proto/-For, believed only from CITYLOOP_FORWARDED_ALLOW_IPS.
        proxy_headers=True,
        forwarded_allow_ips=get_settings().forwarded_allow_ips,
    )


@app.command()
def worker(once: bool = typer.Option(False, help="run every job once and exit")) -> None:
    """Run the background jobs (deadlines, reminders, escalations, scans) until stopped."""
    from cityloop.worker.runner import run_forever, run_once

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if once:
        for name, count in run_once().items():
            console.print(f"{name}: {count}")
        return
    run_forever()


def _register_domains() -> None:
    from cityloop.cases import cli as cases_cli
    from cityloop.core import cli as core_cli
    from cityloop.insight import cli as insight_cli
    from cityloop.livability import cli as livability_cli
    from cityloop.org import cli as org_cli
    from cityloop.programme import cli as programme_cli
    from cityloop.resources import cli as resources_cli
    from cityloop.twin import cli as twin_cli

    app.add_typer(org_cli.users_app, name="users")
    app.add_typer(org_cli.tokens_app, name="tokens")
    app.add_typer(org_cli.org_app, name="org")
    app.add_typer(core_cli.audit_app, name="audit")
    app.add_typer(cases_cli.cases_app, name="cases")
    app.add_typer(programme_cli.programme_app, name="programme")
    app.add_typer(twin_cli.twin_app, name="twin")
    app.add_typer(livability_cli.livability_app, name="livability")
    app.add_typer(resources_cli.resources_app, name="resources")
    app.add_typer(cases_cli.open311_app, name="open311")
    app.add_typer(insight_cli.classifier_app, name="classifier")
    app.command("hotspots")(insight_cli.hotspots_cmd)


_register_domains()


def main() -> None:
    from cityloop import bridges

    bridges.install()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
