"""``cityloop twin …``: the digital twin's commands."""

from __future__ import annotations

import typer

from cityloop.twin.leaks import cli as leaks_cli

twin_app = typer.Typer(help="Digital twin of the networks (water, drainage, gas)", no_args_is_help=True)
twin_app.command("detect-leaks")(leaks_cli.detect_leaks)
