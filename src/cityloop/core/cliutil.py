"""What every CLI command shares: consoles and the one-line error with exit status 2."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

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


def _whole(lo: int, hi: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        parsed = parse_int(str(value), lo=lo, hi=hi)
        if parsed is None:
            raise typer.BadParameter(f"{str(value)[:40]!r} is not a whole number from {lo} to {hi}")
        return parsed

    return parse


def _finite(value: Any) -> float:
    parsed = finite(value if isinstance(value, float) else str(value))
    if parsed is None:
        raise typer.BadParameter(f"{str(value)[:40]!r} is not a finite number")
    return parsed


# Parsers for typer options (``parser=ID``): the CLI reads numbers as the API does (core.validation);
# a bad value is click's usage error, exit status 2 with one line naming the option.
ID = _whole(1, MAX_ID)
COUNT = _whole(0, MAX_INT)
FINITE = _finite


def cli_locale() -> str:
    lang = os.environ.get("CITYLOOP_CLI_LANG") or os.environ.get("LANG", "")
    return "zh-CN" if lang.lower().startswith("zh") else "en"
