"""The warning state machine: thresholds with hysteresis, rate, flat, accumulation, resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cityloop.twin.models import Level
from cityloop.twin.rules import SensorState, decide, default_rules, evaluate

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def run(
    kind: str, values: list[float], step_min: float = 1.0, cause: str = "low"
) -> list[tuple[str, str | None]]:
    """Feed values one a minute; return each step's (action, level) for ``cause``."""
    rules = {cause: default_rules()[kind][cause]}
    state = SensorState()
    level: Level | None = None
    normal_since = None
    out = []
    for i, v in enumerate(values):
        ts = T0 + timedelta(minutes=i * step_min)
        raise_level, hold_level, _ = evaluate(rules, state, ts, v)[cause]
        step = decide(
            open_level=level,
            normal_since=normal_since,
            raise_level=raise_level,
            hold_level=hold_level,
            ts=ts,
            resolve_after_min=rules[cause].resolve_after_min,
        )
        if step.action in ("open", "escalate", "lower", "relapse"):
            level, normal_since = step.level, None
        elif step.action == "normal":
            normal_since = ts
        elif step.action == "resolve":
            level, normal_since = None, None
        out.append((step.action, step.level.value if step.level else None))
    return out


def test_pressure_wobbling_on_a_threshold_opens_once_and_never_flaps() -> None:
    steps = run("pressure", [30, 19.8, 20.3, 19.7, 20.4, 19.9, 20.5])
    assert [a for a, _ in steps].count("open") == 1
    assert all(a in ("none", "open") for a, _ in steps)


def test_escalates_lowers_with_band_and_resolves_after_minutes_normal() -> None:
    values = [30, 19, 14, 9, 14.5, 16.5, 22] + [25] * 11
    steps = run("pressure", values)
    actions = [a for a, _ in steps]
    assert (
        steps[1] == ("open", "yellow")
        and steps[2] == ("escalate", "orange")
        and steps[3] == ("escalate", "red")
    )
    # band 1 m: red holds up to 11 m, orange to 16 m, yellow to 21 m
    assert steps[4] == ("lower", "orange") and steps[5] == ("lower", "yellow")
    assert run("pressure", [30, 9, 10.5])[2] == ("none", None)  # inside the band: stays red
    assert actions[6] == "normal"
    assert actions.index("resolve") == 6 + 10  # resolve_after_min = 10 for pressure
    assert actions.count("resolve") == 1


def test_rate_of_change_catches_a_burst_drop() -> None:
    steps = run("pressure", [50, 50.2, 40, 40.1], cause="rate")
    assert steps[2] == ("open", "orange")


def test_flat_sensor_after_two_hours_without_movement() -> None:
    steps = run("pressure", [42.0] * 14, step_min=10, cause="flat")
    assert steps[12] == ("open", "blue") and all(a == "none" for a, _ in steps[:12])


def test_rainfall_accumulation_levels_follow_the_windows() -> None:
    # 5-minute gauge totals: 10 mm every 5 min → 50 mm after 25 min (orange: 50 mm / 3 h), 100 mm → red
    steps = run("rainfall", [10.0] * 12, step_min=5, cause="accumulation")
    assert steps[4] == ("open", "orange") and steps[9] == ("escalate", "red")


def test_gas_concentration_levels() -> None:
    steps = run("gas", [0, 12, 22, 30, 55], cause="high")
    assert [lvl for _, lvl in steps] == [None, "blue", "yellow", "orange", "red"]


def test_the_batch_fast_path_agrees_with_judging_reading_by_reading() -> None:
    """advance_quietly (with and without open warnings) says True only when every reading would
    have left every warning as it was, and then leaves the same state as evaluate."""
    import copy
    import random

    from cityloop.twin.rules import advance_quietly

    rules = default_rules()["pressure"]
    rules = {c: r for c, r in rules.items() if c in ("high", "low", "rate", "flat")}
    rng = random.Random(7)
    agreed = fast = 0
    for _trial in range(600):
        state = SensorState()
        t = T0
        for _ in range(rng.randint(0, 3)):  # some history
            t += timedelta(seconds=rng.choice([1, 60, 300]))
            evaluate(rules, state, t, rng.uniform(5, 90))
        base = rng.choice([8.0, 12.0, 18.0, 30.0, 45.0, 85.0])
        step_s = rng.choice([1, 30, 60, 300, 3600])
        wobble = rng.choice([0.0, 0.0005, 0.05, 0.5, 3.0])
        stamps, values = [], []
        for _ in range(rng.randint(1, 30)):
            t += timedelta(seconds=step_s)
            stamps.append(t)
            values.append(base + rng.uniform(-wobble, wobble))
        # open warnings: what the first reading itself would hold (as after earlier batches), or random
        probe = copy.deepcopy(state)
        first = evaluate(rules, probe, stamps[0], values[0])
        opened = {c: held for c, (_r, held, _m) in first.items() if held is not None}
        if rng.random() < 0.3:
            opened = {c: rng.choice(list(Level)) for c in rules if rng.random() < 0.3}
        quick = copy.deepcopy(state)
        took = advance_quietly(rules, quick, stamps, values, opened)
        slow = copy.deepcopy(state)
        quiet = True
        for ts, v in zip(stamps, values, strict=True):
            for cause, (raise_level, hold_level, _) in evaluate(rules, slow, ts, v).items():
                step = decide(
                    open_level=opened.get(cause), normal_since=None, raise_level=raise_level,
                    hold_level=hold_level, ts=ts, resolve_after_min=rules[cause].resolve_after_min,
                )  # fmt: skip
                quiet = quiet and step.action == "none"
        if took:
            fast += 1
            assert quiet, (opened, values, stamps)
            assert (quick.last_ts, quick.last_value, quick.flat_since, quick.flat_ref, quick.rate) == (
                slow.last_ts, slow.last_value, slow.flat_since, slow.flat_ref, slow.rate,
            )  # fmt: skip
        else:
            assert (quick.last_ts, quick.flat_since) == (state.last_ts, state.flat_since)  # untouched
        agreed += quiet == took
    assert fast > 100  # the fast path is taken often, with and without open warnings
    assert agreed > 450, agreed  # and missed only where a reading-by-reading look is needed anyway
