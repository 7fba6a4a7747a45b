"""Early-warning rules as data, and their evaluation as pure functions.

Defaults per sensor kind come from ``defaults/warning_rules.csv`` (a district replaces the file
via ``CITYLOOP_TWIN_RULES_FILE``); a sensor's ``rules`` overrides whole causes. Causes:

- ``high`` / ``low``: the value at or beyond a threshold;
- ``rate``: change per minute between consecutive readings, in the sensor's unit;
- ``flat``: the value has not moved more than ``threshold`` for ``window_min`` minutes (stuck);
- ``accumulation``: the sum of readings over ``window_min`` minutes (rainfall);
- ``no_data``: no reading for ``window_min`` minutes (checked by the worker);
- ``deviation``: |observed − model-expected| (checked by the worker against EPANET).

Hysteresis: a warning opens or escalates when the plain threshold is crossed, but is lowered
or counted as normal only once the value is back past the threshold by ``band``; it resolves
after ``resolve_after_min`` minutes normal. So a value wobbling on a threshold never flaps.
"""

from __future__ import annotations

import csv
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from cityloop.twin.models import LEVEL_RANK, Level

DEFAULTS = Path(__file__).resolve().parent / "defaults" / "warning_rules.csv"
READING_CAUSES = ("high", "low", "rate", "flat", "accumulation")
CAUSES = (*READING_CAUSES, "no_data", "deviation")


@dataclass(frozen=True)
class Threshold:
    level: Level
    value: float
    window_min: float = 0.0


@dataclass(frozen=True)
class CauseRule:
    cause: str
    thresholds: tuple[Threshold, ...]  # lowest level first
    band: float = 0.0
    resolve_after_min: float = 10.0

    @property
    def max_window_min(self) -> float:
        return max((t.window_min for t in self.thresholds), default=0.0)


@dataclass
class SensorState:
    """What the rules remember about one sensor; rebuilt from stored readings after a restart."""

    last_ts: datetime | None = None
    last_value: float | None = None
    flat_since: datetime | None = None
    flat_ref: float | None = None
    rate: float | None = None  # change per minute at the last reading
    window: deque[tuple[datetime, float]] = field(default_factory=deque)


def _float(text: str | None) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


def parse_rules(rows: list[dict[str, Any]]) -> dict[str, dict[str, CauseRule]]:
    """kind → cause → rule, from rows with the CSV's columns."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        cause = str(row["cause"]).strip()
        if cause not in CAUSES:
            raise ValueError(f"unknown cause {cause!r} in warning rules")
        grouped.setdefault((str(row["kind"]).strip(), cause), []).append(row)
    out: dict[str, dict[str, CauseRule]] = {}
    for (kind, cause), items in grouped.items():
        out.setdefault(kind, {})[cause] = rule_from_rows(cause, items)
    return out


def rule_from_rows(cause: str, items: list[dict[str, Any]]) -> CauseRule:
    thresholds = sorted(
        (
            Threshold(
                Level(str(r["level"]).strip()),
                _float(str(r.get("threshold") or "")) or 0.0,
                _float(str(r.get("window_min") or "")) or 0.0,
            )
            for r in items
        ),
        key=lambda t: LEVEL_RANK[t.level],
    )
    first = items[0]
    resolve = _float(str(first.get("resolve_after_min") or ""))
    return CauseRule(
        cause,
        tuple(thresholds),
        band=_float(str(first.get("band") or "")) or 0.0,
        resolve_after_min=10.0 if resolve is None else resolve,
    )


@lru_cache
def default_rules(path: str | None = None) -> dict[str, dict[str, CauseRule]]:
    source = Path(path) if path else DEFAULTS
    with source.open(encoding="utf-8") as fh:
        return parse_rules(list(csv.DictReader(fh)))


def default_unit(kind: str, path: str | None = None) -> str | None:
    source = Path(path) if path else DEFAULTS
    with source.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["kind"] == kind:
                return row["measure_unit"]
    return None


def rules_for(kind: str, overrides: dict[str, Any] | None, path: str | None = None) -> dict[str, CauseRule]:
    """The kind's default rules with a sensor's overrides: ``{"rows": [...], "disable": [cause]}``."""
    rules = dict(default_rules(path).get(kind, {}))
    if overrides:
        for cause in overrides.get("disable", []):
            rules.pop(cause, None)
        rows = [{**r, "kind": kind} for r in overrides.get("rows", [])]
        rules.update(parse_rules(rows).get(kind, {}))
    return rules


# --- evaluation ------------------------------------------------------------------------------------


def _passes(cause: str, measured: float, threshold: float) -> bool:
    return measured <= threshold if cause == "low" else measured >= threshold


def level_of(rule: CauseRule, measured: float | None, *, hold: bool) -> Level | None:
    """Highest level whose threshold ``measured`` reaches; ``hold`` applies the hysteresis band."""
    if measured is None or math.isnan(measured):
        return None
    found: Level | None = None
    for t in rule.thresholds:
        limit = t.value
        if hold:
            limit = limit + rule.band if rule.cause == "low" else limit - rule.band
        if _passes(rule.cause, measured, limit):
            found = t.level
    return found


def _accumulated(rule: CauseRule, state: SensorState, ts: datetime, *, hold: bool) -> Level | None:
    found: Level | None = None
    for t in rule.thresholds:
        since = ts - timedelta(minutes=t.window_min)
        total = sum(v for when, v in state.window if when > since)
        limit = t.value - rule.band if hold else t.value
        if total >= limit:
            found = t.level
    return found


def _flat_level(rule: CauseRule, state: SensorState, ts: datetime) -> Level | None:
    if state.flat_since is None:
        return None
    minutes = (ts - state.flat_since).total_seconds() / 60
    found: Level | None = None
    for t in rule.thresholds:
        if minutes >= t.window_min:
            found = t.level
    return found


def evaluate(
    rules: dict[str, CauseRule], state: SensorState, ts: datetime, value: float
) -> dict[str, tuple[Level | None, Level | None, float | None]]:
    """Feed one reading (newer than the last) to the state; per cause (raise level, hold level,
    measured). The raise level opens/escalates; the hold level (with band) keeps a warning up."""
    out: dict[str, tuple[Level | None, Level | None, float | None]] = {}
    _advance(rules, state, ts, value)
    for cause, rule in rules.items():
        if cause in ("high", "low"):
            out[cause] = (level_of(rule, value, hold=False), level_of(rule, value, hold=True), value)
        elif cause == "rate":
            rate = state.rate
            out[cause] = (level_of(rule, rate, hold=False), level_of(rule, rate, hold=True), rate)
        elif cause == "flat":
            level = _flat_level(rule, state, ts)
            out[cause] = (level, level, value)
        elif cause == "accumulation":
            out[cause] = (
                _accumulated(rule, state, ts, hold=False),
                _accumulated(rule, state, ts, hold=True),
                sum(v for _, v in state.window),
            )
        elif cause == "no_data":
            out[cause] = (None, None, value)  # a reading arrived: the silence is over
    return out


def _advance(rules: dict[str, CauseRule], state: SensorState, ts: datetime, value: float) -> None:
    rate = None
    if state.last_ts is not None and state.last_value is not None and ts > state.last_ts:
        minutes = (ts - state.last_ts).total_seconds() / 60
        rate = abs(value - state.last_value) / minutes if minutes > 0 else None
    state.rate = rate
    flat = rules.get("flat")
    eps = flat.thresholds[0].value if flat and flat.thresholds else 0.0
    if state.flat_ref is None or abs(value - state.flat_ref) > eps:
        state.flat_since, state.flat_ref = ts, value
    if "accumulation" in rules:
        state.window.append((ts, value))
        horizon = ts - timedelta(minutes=rules["accumulation"].max_window_min)
        while state.window and state.window[0][0] <= horizon:
            state.window.popleft()
    state.last_ts, state.last_value = ts, value


@dataclass(frozen=True)
class Step:
    """What to do with a cause's warning after one evaluation."""

    action: str  # none | open | escalate | lower | normal | relapse | resolve
    level: Level | None = None


def decide(
    *,
    open_level: Level | None,
    normal_since: datetime | None,
    raise_level: Level | None,
    hold_level: Level | None,
    ts: datetime,
    resolve_after_min: float,
) -> Step:
    """The warning state machine for one cause (one open warning at most)."""
    if open_level is None:
        return Step("open", raise_level) if raise_level else Step("none")
    if raise_level is not None and LEVEL_RANK[raise_level] > LEVEL_RANK[open_level]:
        return Step("escalate", raise_level)
    if hold_level is None:
        if normal_since is None:
            if resolve_after_min <= 0:
                return Step("resolve")
            return Step("normal")
        if ts - normal_since >= timedelta(minutes=resolve_after_min):
            return Step("resolve")
        return Step("none")
    if LEVEL_RANK[hold_level] < LEVEL_RANK[open_level]:
        return Step("lower", hold_level)
    if normal_since is not None:
        return Step("relapse", open_level)
    return Step("none")


def _rank(level: Level | None) -> int:
    return LEVEL_RANK[level] if level is not None else 0


def _steady(rule: CauseRule, open_level: Level | None, worst: float, best: float) -> bool:
    """Whether every measurement between ``best`` and ``worst`` (the batch's extremes, for a cause
    whose levels grow monotonically towards ``worst``) leaves the cause's warning as it is: none
    opened when there is none, no escalation, no lowering, no start of the normal countdown."""
    raised = level_of(rule, worst, hold=False)
    if open_level is None:
        return raised is None
    held = level_of(rule, best, hold=True)
    return _rank(raised) <= LEVEL_RANK[open_level] and _rank(held) >= LEVEL_RANK[open_level]


def advance_quietly(
    rules: dict[str, CauseRule],
    state: SensorState,
    stamps: list[datetime],
    values: list[float],
    open_levels: dict[str, Level] | None = None,
) -> bool:
    """The fast path, judged per batch: if none of ``values`` (time-ordered, all newer than the
    state) would change anything — open a warning, escalate, lower, or start the normal countdown
    of an open one (``open_levels``: cause → level of the sensor's open warnings that are not
    counting down) — advance the state over them exactly as ``evaluate`` would and return True;
    else change nothing and return False (the caller evaluates reading by reading).

    Levels grow monotonically with the value (high, rate), against it (low), or with the minutes
    flat, so each cause is judged on the batch's extremes; only rate and flat need a pass over the
    readings. Most batches of a network take this path, with or without open warnings."""
    opened = open_levels or {}
    if "accumulation" in rules or not values:
        return False
    if any(cause not in ("high", "low", "rate", "flat") or cause not in rules for cause in opened):
        return False
    lo, hi = min(values), max(values)
    for cause in ("high", "low"):
        rule = rules.get(cause)
        if rule and rule.thresholds:
            worst, best = (hi, lo) if cause == "high" else (lo, hi)
            if not _steady(rule, opened.get(cause), worst, best):
                return False
        elif cause in opened:
            return False
    prev_ts, prev_v = state.last_ts, state.last_value
    rate: float | None = None
    rates: list[float] = []
    for ts, v in zip(stamps, values, strict=True):
        rate = None
        if prev_ts is not None and prev_v is not None and ts > prev_ts:
            minutes = (ts - prev_ts).total_seconds() / 60
            rate = abs(v - prev_v) / minutes if minutes > 0 else None
        if rate is not None:
            rates.append(rate)
        elif "rate" in opened:
            return False  # no rate at this reading: an open rate warning would count as normal
        prev_ts, prev_v = ts, v
    rate_rule = rules.get("rate")
    if rate_rule and rate_rule.thresholds and rates:
        if not _steady(rate_rule, opened.get("rate"), max(rates), min(rates)):
            return False
    elif "rate" in opened:
        return False
    flat = rules.get("flat")
    since, ref = state.flat_since, state.flat_ref
    eps = flat.thresholds[0].value if flat and flat.thresholds else 0.0
    want = _rank(opened.get("flat"))
    for ts, v in zip(stamps, values, strict=True):
        if ref is None or abs(v - ref) > eps:
            since, ref = ts, v
        if flat and flat.thresholds:
            assert since is not None
            if _rank(_flat_at(flat, (ts - since).total_seconds() / 60)) != want:
                return False
    state.flat_since, state.flat_ref = since, ref
    state.last_ts, state.last_value = stamps[-1], values[-1]
    state.rate = rate
    return True


def _flat_at(rule: CauseRule, minutes: float) -> Level | None:
    found: Level | None = None
    for t in rule.thresholds:
        if minutes >= t.window_min:
            found = t.level
    return found
