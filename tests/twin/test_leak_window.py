"""The evidence window's fit of tracked leaks: outflows are never negative, even when two tracked leaks
have nearly the same signature and the residual pulls them apart."""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from cityloop.twin.leaks.simulate import tank_shortfall_hours
from cityloop.twin.leaks.window import NEGATIVE_SLACK, EvidenceWindow, HourRecord


def _record(hour: int) -> HourRecord:
    m = 3
    return HourRecord(
        start=datetime(2020, 1, 1) + timedelta(hours=hour),
        base_flows={1: 2.0, 2: 2.0},
        base_nodes={1: 0, 2: 1},
        raw=np.zeros(m),
        expected=np.zeros(m),
        sigma=np.ones(m),
        factor=1.0,
    )


def test_two_similar_tracked_leaks_do_not_take_opposite_flows() -> None:
    window = EvidenceWindow(hours=4, n_obs=3, n_cand=3)
    # columns 0 and 1 (the tracked leaks) differ only a little; the residual lies along their
    # difference, which an unconstrained fit explains with about +40 and −40 m³/h
    sens = np.array([[10.0, 10.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0]])
    y = np.array([0.0, -20.0, 0.0])
    tracked = {1: 0, 2: 1}
    for h in range(4):
        window.push(_record(h), y, sens, np.zeros(3), tracked)
    for leak in tracked:
        flows = window.flows(leak)
        assert len(flows) == 4
        assert flows.min() >= -NEGATIVE_SLACK
        assert flows.max() < 10.0
    # the leak that the residual pushed below zero is held at zero, not dropped from the fit
    assert np.allclose(window.flows(2), 0.0, atol=1e-3)


def test_a_positive_fit_is_left_as_it_was() -> None:
    window = EvidenceWindow(hours=2, n_obs=3, n_cand=3)
    sens = np.array([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 1.0]])
    y = sens[:, 0] * 3.0 + sens[:, 1] * 1.0  # +3 and +1 m³/h over the base flows of 2
    for h in range(2):
        window.push(_record(h), y, sens, np.zeros(3), {1: 0, 2: 1})
    assert np.allclose(window.flows(1), 5.0, atol=0.1)
    assert np.allclose(window.flows(2), 3.0, atol=0.1)


def test_tank_shortfall_counts_the_hours_any_tank_is_below_the_floor() -> None:
    times = pd.date_range("2020-01-01", periods=24, freq="5min")
    levels = pd.DataFrame({"T1": np.full(24, 3.0), "T2": np.full(24, 2.0)}, index=times)
    assert tank_shortfall_hours(levels, 1.0) == 0.0
    levels.iloc[:12, 1] = 0.2  # T2 dry for the first hour
    assert tank_shortfall_hours(levels, 1.0) == 1.0
    assert tank_shortfall_hours(levels.iloc[:0], 1.0) == 0.0


def test_calibration_tolerates_a_few_spurious_reports_and_ignores_mislocated_ones() -> None:
    from cityloop.twin.leaks.batch import MARGIN, _beside_a_leak, threshold_from_history
    from cityloop.twin.leaks.records import Detection
    from cityloop.twin.leaks.scada import LeakRecord

    assert threshold_from_history(100.0, [], budget=2) == 100.0
    assert threshold_from_history(100.0, [900.0, 500.0], budget=2) == 100.0
    # one outlier no longer sets the threshold: the third strongest does
    assert threshold_from_history(100.0, [5000.0, 900.0, 400.0, 120.0], budget=2) == MARGIN * 400.0
    assert threshold_from_history(1000.0, [5000.0, 900.0, 400.0], budget=2) == 1000.0

    leak = LeakRecord(
        "p1", datetime(2020, 3, 1), datetime(2020, 6, 1), 0.01, "incipient", datetime(2020, 4, 1)
    )

    def report(onset: datetime, time: datetime) -> Detection:
        return Detection(time=time, pipe="p9", leak_id=1, flow=5.0, onset=onset)

    # onset while the leak grew, reported while it was open: it reacted to that leak (wrong place)
    assert _beside_a_leak(report(datetime(2020, 3, 20), datetime(2020, 3, 25)), [leak])
    # onset long after the growth ended: spurious
    assert not _beside_a_leak(report(datetime(2020, 5, 1), datetime(2020, 5, 2)), [leak])
    # reported after the leak was repaired: spurious
    assert not _beside_a_leak(report(datetime(2020, 3, 20), datetime(2020, 6, 5)), [leak])


def test_a_merged_leak_hands_its_expected_flow_to_the_one_that_stays() -> None:
    """Two tracked fragments of one leak (nearly the same signature) each carried 2 m³/h in the
    expected runs; merged, the survivor must carry the 4 m³/h, not lose the other's share."""
    sens = np.array([[10.0, 9.8, 0.0], [5.0, 5.3, 0.0], [0.0, 0.0, 1.0]])
    y = np.zeros(3)  # the observations match the expected runs, which had both fragments
    merged, dropped = EvidenceWindow(hours=3, n_obs=3, n_cand=3), EvidenceWindow(hours=3, n_obs=3, n_cand=3)
    for window in (merged, dropped):
        for h in range(3):
            window.push(_record(h), y, sens, np.zeros(3), {1: 0, 2: 1})
    merged.hand_over(2, 1, 0)
    merged.refit({1: 0})
    dropped.refit({1: 0})
    assert np.allclose(merged.flows(1), 4.0, atol=0.2)
    assert all(2 not in r.base_nodes and r.base_flows[1] == 4.0 for r in merged.records())
    # without the hand-over the residuals still assume the other fragment's 2 m³/h was there
    assert dropped.flows(1).mean() < 3.0
