"""Deadlines: how long each step may take, counted round the clock or in working hours.

A category says, per urgency, how many minutes registration and dispatch may take and how many hours
handling and verification may take. When the district sets a working-hours calendar
(``CITYLOOP_CASE_WORKING_HOURS``), categories flagged ``working_hours`` count only working time, the way
real cities state "2 working hours"; emergencies always run round the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from cityloop.config import get_settings

URGENCIES = ("normal", "urgent", "emergency")
STEP_KEYS = {
    "register": "register_minutes",
    "dispatch": "dispatch_minutes",
    "handle": "handle_hours",
    "verify": "verify_hours",
}
# Offered when a category names none (minutes for register/dispatch, hours for handle/verify).
DEFAULT_DEADLINES: dict[str, dict[str, float]] = {
    "normal": {"register_minutes": 30, "dispatch_minutes": 30, "handle_hours": 24, "verify_hours": 24},
    "urgent": {"register_minutes": 15, "dispatch_minutes": 15, "handle_hours": 4, "verify_hours": 4},
    "emergency": {"register_minutes": 10, "dispatch_minutes": 10, "handle_hours": 1, "verify_hours": 2},
}


def normalise_deadlines(raw: Any) -> dict[str, dict[str, float]]:
    """Fill gaps from the defaults; refuse negative or non-numeric values (ValueError)."""
    out: dict[str, dict[str, float]] = {}
    given = raw if isinstance(raw, dict) else {}
    for urgency in URGENCIES:
        part = given.get(urgency) or {}
        if not isinstance(part, dict):
            raise ValueError(f"deadlines for {urgency} must be an object")
        merged = dict(DEFAULT_DEADLINES[urgency])
        for key, value in part.items():
            if key not in DEFAULT_DEADLINES[urgency]:
                raise ValueError(f"unknown deadline {key}")
            number = float(value)
            if not number > 0:
                raise ValueError(f"{urgency}.{key} must be a positive number")
            merged[key] = number
        out[urgency] = merged
    return out


def step_duration(deadlines: dict[str, Any], urgency: str, step: str) -> timedelta:
    table = deadlines.get(urgency) or DEFAULT_DEADLINES.get(urgency) or DEFAULT_DEADLINES["normal"]
    key = STEP_KEYS[step]
    value = float(table.get(key, DEFAULT_DEADLINES["normal"][key]))
    return timedelta(minutes=value) if key.endswith("minutes") else timedelta(hours=value)


@dataclass(frozen=True)
class WorkCalendar:
    """Working periods per working day in a local zone; empty ``periods`` means round the clock."""

    periods: tuple[tuple[time, time], ...]
    days: frozenset[int]  # ISO weekdays, Monday = 1
    holidays: frozenset[date]
    zone: ZoneInfo

    @property
    def active(self) -> bool:
        return bool(self.periods)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start`` (aware UTC in, aware UTC out)."""
        if not self.active:
            return start + duration
        remaining = duration
        local = start.astimezone(self.zone)
        for _ in range(3660):  # ten years of days: a calendar with no working day must not loop forever
            day = local.date()
            if day.isoweekday() in self.days and day not in self.holidays:
                for begin, end in self.periods:
                    b = datetime.combine(day, begin, self.zone)
                    e = datetime.combine(day, end, self.zone)
                    if local >= e:
                        continue
                    cursor = max(local, b)
                    available = e - cursor
                    if remaining <= available:
                        return (cursor + remaining).astimezone(UTC)
                    remaining -= available
                    local = e
            local = datetime.combine(day + timedelta(days=1), time(0, 0), self.zone)
        raise ValueError("the working calendar has no working time")


def _parse_periods(text: str) -> tuple[tuple[time, time], ...]:
    periods = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        a, _, b = part.partition("-")
        begin, end = time.fromisoformat(a.strip()), time.fromisoformat(b.strip())
        if end <= begin:
            raise ValueError(f"working period {part} ends before it begins")
        periods.append((begin, end))
    return tuple(sorted(periods))


@lru_cache(maxsize=8)
def _calendar(hours: str, days: str, holidays: str, zone: str) -> WorkCalendar:
    return WorkCalendar(
        periods=_parse_periods(hours),
        days=frozenset(int(d) for d in days.split(",") if d.strip()),
        holidays=frozenset(date.fromisoformat(h.strip()) for h in holidays.split(",") if h.strip()),
        zone=ZoneInfo(zone),
    )


def calendar() -> WorkCalendar:
    s = get_settings()
    return _calendar(s.case_working_hours, s.case_working_days, s.case_holidays, s.display_timezone)


ROUND_THE_CLOCK = WorkCalendar((), frozenset(range(1, 8)), frozenset(), ZoneInfo("UTC"))


@dataclass(frozen=True)
class Deadline:
    started_at: datetime
    remind_at: datetime
    due_at: datetime
    escalate_at: datetime


def compute(
    *,
    start: datetime,
    duration: timedelta,
    working_hours: bool,
    urgency: str,
    cal: WorkCalendar | None = None,
) -> Deadline:
    """Reminder, due and escalation times for a step of ``duration`` starting at ``start``."""
    s = get_settings()
    use = cal or calendar()
    if not working_hours or urgency == "emergency":
        use = ROUND_THE_CLOCK
    return Deadline(
        started_at=start,
        remind_at=use.add(start, duration * (s.case_remind_percent / 100)),
        due_at=use.add(start, duration),
        escalate_at=use.add(start, duration * (s.case_escalate_percent / 100)),
    )
