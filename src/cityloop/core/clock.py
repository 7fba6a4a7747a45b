"""The one place that says what time it is, so tests can move time forward.

Every timestamp the platform stores is timezone-aware UTC; pages and the API show it in the
district's display zone (Asia/Shanghai by default) with its offset.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cityloop.config import get_settings

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return _now()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests, simulations). ``None`` restores the wall clock."""
    global _now
    _now = fn if fn is not None else (lambda: datetime.now(UTC))


class FrozenClock:
    """A clock for tests: starts at ``start`` and moves only when told."""

    def __init__(self, start: datetime) -> None:
        self.current = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


def display_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().display_timezone)


def to_display(value: datetime | None) -> datetime | None:
    """Convert an aware UTC time to the display zone (keeps the offset)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(display_zone())


def isoformat(value: datetime | None) -> str | None:
    """ISO-8601 in the display zone, always with its offset, e.g. 2026-11-28T18:00:00+08:00."""
    shown = to_display(value)
    return shown.isoformat(timespec="seconds") if shown else None
