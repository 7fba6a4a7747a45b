"""What every CLI command shares: consoles and the one-line error with exit status 2."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click
import typer
from rich.console import Console

from cityloop.core.errors import AppError
from cityloop.core.validation import MAX_ID, MAX_INT, finite, parse_int

F = TypeVar("F", bound=Callable[..., Any])
console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def cli_errors(fn: F) -> F:
    """Turn user errors into one clear line and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AppError as exc:
            raise fail(exc.message(cli_locale())) from None
        except FileNotFoundError as exc:
            raise fail(f"file not found: {exc.filename}") from None

    return wrapper  # type: ignore[return-value]


class _Whole(click.ParamType):
    """A whole number the way core.validation reads one: ASCII digits, within ``lo`` … ``hi``."""

    name = "integer"

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        parsed = parse_int(str(value), lo=self.lo, hi=self.hi)
        if parsed is None:
            self.fail(f"{str(value)[:40]!r} is not a whole number from {self.lo} to {self.hi}", param, ctx)
        return parsed


class _Finite(click.ParamType):
    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        parsed = finite(value if isinstance(value, float) else str(value))
        if parsed is None:
            self.fail(f"{str(value)[:40]!r} is not a finite number", param, ctx)
        return parsed


# click types for typer options (``click_type=ID``): the CLI reads numbers as the API does.
ID = _Whole(1, MAX_ID)
COUNT = _Whole(0, MAX_INT)
FINITE = _Finite()


def cli_locale() -> str:
    lang = os.environ.get("CITYLOOP_CLI_LANG") or os.environ.get("LANG", "")
    return "zh-CN" if lang.lower().startswith("zh") else "en"
