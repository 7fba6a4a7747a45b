"""The BattLeDIM scorer on hand-made cases, on a chain of 100 m pipes (pk is 100·|k − j| m from pj)."""

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from cityloop.core.errors import ValidationFailed
from cityloop.twin.leaks.scada import LeakRecord
from cityloop.twin.leaks.score import format_score, score_detections
from tests.twin.leak_nets import chain

T = datetime.fromisoformat
START = T("2020-01-01 00:00")


@pytest.fixture(scope="module")
def net():
    return chain()


def leaks_and_flows():
    leaks = [
        LeakRecord("p2", T("2020-01-01 00:00"), T("2020-01-02 00:00")),  # 12 m³/h → 1 m³ every 5 min
        LeakRecord("p6", T("2020-01-02 00:00"), T("2020-01-03 00:00")),  # 6 m³/h → 0.5 m³
        LeakRecord("p8", T("2019-12-30 00:00"), T("2020-01-01 03:00")),  # carried over from 2019
    ]
    times = pd.date_range("2019-12-30", "2020-01-04", freq="5min")
    flows = pd.DataFrame(0.0, index=times, columns=["p2", "p6", "p8"])
    for leak, rate in zip(leaks, (12.0, 6.0, 3.0), strict=True):
        flows.loc[(times >= leak.start) & (times <= leak.end), leak.pipe] = rate
    return leaks, flows


def test_pipe_distance_follows_the_network_and_half_pipe_lengths(net) -> None:
    assert net.pipe_distance("p2", "p2") == 0
    assert net.pipe_distance("p2", "p3") == pytest.approx(100)  # shared node: two half pipes
    assert net.pipe_distance("p2", "p4") == pytest.approx(200)
    assert net.pipe_distance("p1", "p8") == pytest.approx(700)


def test_each_rule_of_the_benchmark(net) -> None:
    leaks, flows = leaks_and_flows()
    detections = [
        ("p2", T("2019-12-31 10:00")),  # before the scored period: ignored
        ("p8", T("2020-01-01 02:00")),  # the carried-over leak: free, earns nothing
        ("p2", T("2020-01-01 12:00")),  # exact pipe: 145 steps × 1 m³ left → €116
        ("p2", T("2020-01-01 18:00")),  # the same leak again: 0
        ("p4", T("2020-01-02 06:00")),  # 200 m from p6: 217 × 0.5 m³ × 0.8 − 200/300 × 500
        ("p1", T("2020-01-02 12:00")),  # no leak near p1 then: false alarm
        ("p6", T("2020-01-03 06:00")),  # right pipe but after the leak ended: false alarm
    ]
    score = score_detections(net, detections, leaks, flows, period_start=START)
    assert score.ignored == 1
    assert (score.true_detections, score.false_detections, score.repeats) == (2, 2, 2)
    assert score.perfect == pytest.approx(0.8 * 289 + 0.8 * 289 * 0.5)
    by_pipe = {o.leak.pipe: o for o in score.leaks}
    assert set(by_pipe) == {"p2", "p6"}  # the carried-over leak is not scored
    assert by_pipe["p2"].earned == pytest.approx(0.8 * 145)
    assert by_pipe["p6"].distance == pytest.approx(200)
    assert by_pipe["p6"].earned == pytest.approx(0.8 * 217 * 0.5 - 200 / 300 * 500)
    assert score.score == pytest.approx(0.8 * 145 + 0.8 * 217 * 0.5 - 200 / 300 * 500 - 1000)
    assert "p6" in format_score(score) and "%" in format_score(score)


def test_more_than_300_m_away_is_a_false_alarm_and_300_m_still_counts(net) -> None:
    leaks, flows = leaks_and_flows()
    far = score_detections(net, [("p6", T("2020-01-01 12:00"))], leaks, flows, period_start=START)
    assert (far.true_detections, far.false_detections, far.score) == (0, 1, -500)
    edge = score_detections(net, [("p5", T("2020-01-01 12:00"))], leaks, flows, period_start=START)
    assert edge.true_detections == 1 and edge.leaks[0].distance == pytest.approx(300)
    assert edge.score == pytest.approx(0.8 * 145 - 500)


def test_a_perfect_submission_scores_100_percent(net) -> None:
    leaks, flows = leaks_and_flows()
    perfect = [(leak.pipe, leak.start) for leak in leaks if leak.start >= START]
    score = score_detections(net, perfect, leaks, flows, period_start=START)
    assert score.percent == pytest.approx(100.0)
    assert np.isclose(score.score, score.perfect)


def test_a_leak_without_an_outflow_series_is_refused(net) -> None:
    leaks, flows = leaks_and_flows()
    with pytest.raises(ValidationFailed):
        score_detections(net, [], leaks, flows.drop(columns=["p6"]), period_start=START)
