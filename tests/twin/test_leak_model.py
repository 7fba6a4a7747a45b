"""The model pieces the detector leans on: linear leak sensitivities against EPANET itself, the
smart-meter demand factor, the naive baseline, and the shared L-Town data when present."""

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from cityloop.twin.leaks.baseline import naive_detections
from cityloop.twin.leaks.demand import DemandFactor, PatternDemand
from cityloop.twin.leaks.hydraulics import HydraulicModel
from cityloop.twin.leaks.network import NetworkModel
from cityloop.twin.leaks.scada import LeakRecord, read_leaks, read_scada
from cityloop.twin.leaks.score import score_detections
from cityloop.twin.leaks.simulate import simulate
from tests.conftest import shared_path
from tests.twin.leak_nets import grid


def observe(model: HydraulicModel, emitters: dict[int, float]) -> np.ndarray:
    return model.snapshot(
        time_of_week=8 * 3600, demand_factor=1.0, tank_levels=None, pumps_on=None, emitters=emitters
    )


def test_linear_sensitivities_match_an_epanet_leak_at_the_junctions_checked() -> None:
    net, layout = grid()
    model = HydraulicModel(
        net, pressure_nodes=list(layout.pressures), flow_links=list(layout.flows), level_tanks=[]
    )
    base = observe(model, {})
    sens = model.sensitivities()
    for node in range(0, len(model.junction_names), 6):
        coef = 0.4  # m³/h per √m: about 2.5 m³/h here
        changed = observe(model, {node: coef})
        flow = changed[-1] - base[-1]  # the inflow meter sees the whole leak
        predicted = sens[:, node] * flow
        change = changed[:-1] - base[:-1]
        assert np.all(change < 0)  # every pressure sensor drops
        assert np.abs(predicted[:-1] - change).max() <= 0.1 * np.abs(change).max() + 2e-3
        assert predicted[-1] == pytest.approx(flow, rel=1e-6)
    model.close()


def test_demand_factor_follows_the_meters_and_restarts_each_day() -> None:
    net, layout = grid()
    expected = PatternDemand.for_nodes(net, list(layout.demands))
    factor = DemandFactor(expected)
    for step in range(24):
        tow = step * 3600.0
        factor.update(day="d1", time_of_week=tow, readings=expected.at(tow) * 1.2)
    assert factor.factor == pytest.approx(1.2, abs=0.01)
    factor.update(day="d2", time_of_week=0.0, readings=expected.at(0.0) * 0.9)
    assert 0.9 < factor.factor < 1.2  # yesterday's value still weighs a little
    for step in range(1, 24):
        factor.update(day="d2", time_of_week=step * 3600.0, readings=expected.at(step * 3600.0) * 0.9)
    assert factor.factor == pytest.approx(0.9, abs=0.01)


def test_naive_baseline_raises_a_leak_after_two_nights(tmp_path) -> None:
    net, layout = grid()
    leak = LeakRecord(
        "h3_1", datetime(2020, 1, 9, 12), datetime(2020, 1, 20), 0.012, "abrupt", datetime(2020, 1, 9, 12)
    )
    out = simulate(
        net, layout, [leak], start=datetime(2020, 1, 1), end=datetime(2020, 1, 12), out_dir=tmp_path, seed=1
    )
    found = naive_detections(net, read_scada(out))
    assert found and found[0][1] == datetime(2020, 1, 11, 4, 0)


@pytest.mark.shared_data
def test_ltown_2018_sensors_are_in_the_model_and_a_perfect_submission_scores_100() -> None:
    inp = shared_path("data", "twin", "L-TOWN.inp")
    scada = shared_path("data", "twin", "ltown_2018_scada")
    net = NetworkModel.from_inp(inp)
    headers = {
        k: list(pd.read_csv(scada / f"{k}.csv.gz", nrows=1).columns[1:])
        for k in ("pressures", "flows", "levels", "demands")
    }
    assert [len(v) for v in headers.values()] == [33, 3, 1, 82]
    net.check_sensors(**headers)
    leaks = read_leaks(scada / "leaks.csv")
    flows = pd.read_csv(scada / "leak_flows.csv.gz", index_col=0, parse_dates=True)
    score = score_detections(
        net, [(x.pipe, x.start) for x in leaks], leaks, flows, period_start=datetime(2018, 1, 1)
    )
    assert len(leaks) == 14 and score.percent == pytest.approx(100.0) and score.false_detections == 0
