"""Synthetic SCADA years with leaks of our own, to calibrate and to test the detector on unseen data.

The recipe of the BattLeDIM-style data: EPANET (through the toolkit WNTR ships) runs the network with its
own pump controls and tank; demand = the model's weekly patterns × a seasonal curve × a random factor per
day; each leak is an emitter at the middle of its pipe (the pipe is split there, so the leak is never
exactly at a junction the detector searches) with coefficient 0.75·A·√(2g); an incipient leak's
coefficient grows linearly from its start to its peak. Sensor noise: pressure 0.05 m, flow 1 %, level
0.01 m, smart meters 5 %.

Units: flows m³/h, pressures and levels m, meter readings L/h, leak diameters m.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import wntr
from wntr.epanet import toolkit
from wntr.epanet.util import EN

from cityloop.twin.leaks.demand import PatternDemand
from cityloop.twin.leaks.engine import PATTERN_ORIGIN
from cityloop.twin.leaks.network import NetworkModel
from cityloop.twin.leaks.records import SensorLayout
from cityloop.twin.leaks.scada import LeakRecord, write_leaks
from cityloop.twin.leaks.score import step_hours

G = 9.81
DISCHARGE = 0.75


@dataclass
class Noise:
    pressure: float = 0.05  # m
    flow: float = 0.01  # relative
    level: float = 0.01  # m
    meter: float = 0.05  # relative


@dataclass
class DemandClimate:
    """Seasonal curve (peak near ``peak_day``) times a lognormal random factor per day."""

    amplitude: float = 0.1
    peak_day: int = 220
    daily_sigma: float = 0.04

    def factors(self, days: list[datetime], rng: np.random.Generator) -> np.ndarray:
        doy = np.array([d.timetuple().tm_yday for d in days], dtype=float)
        seasonal = 1.0 + self.amplitude * np.cos(2 * math.pi * (doy - self.peak_day) / 365.25)
        return seasonal * np.exp(rng.normal(0.0, self.daily_sigma, len(days)))


def emitter_coefficient(diameter: float) -> float:
    """EPANET emitter coefficient (m³/h per √m) of a round hole of ``diameter`` m."""
    area = math.pi * diameter**2 / 4.0
    return DISCHARGE * area * math.sqrt(2 * G) * 3600.0


def leak_coefficient(leak: LeakRecord, t: datetime) -> float:
    if t < leak.start or t > leak.end:
        return 0.0
    full = emitter_coefficient(leak.diameter)
    peak = leak.peak or leak.start
    if leak.kind == "incipient" and peak > leak.start and t < peak:
        return full * (t - leak.start).total_seconds() / (peak - leak.start).total_seconds()
    return full


def simulate(
    network: NetworkModel,
    layout: SensorLayout,
    leaks: list[LeakRecord],
    *,
    start: datetime,
    end: datetime,
    out_dir: Path,
    seed: int = 0,
    step_seconds: int = 300,
    noise: Noise | None = None,
    climate: DemandClimate | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Simulate ``start`` ≤ t < ``end`` and write a SCADA directory (plus ``leaks.csv``, ``leak_flows``)."""
    noise, climate = noise or Noise(), climate or DemandClimate()
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, end, freq=f"{step_seconds}s", inclusive="left")
    days = sorted({t.date() for t in times})
    day_factor = dict(
        zip(days, climate.factors([datetime(d.year, d.month, d.day) for d in days], rng), strict=True)
    )
    split_wn, leak_nodes = _split_leak_pipes(network, leaks)
    inp = out_dir / ".simulation.inp"
    out_dir.mkdir(parents=True, exist_ok=True)
    wntr.network.write_inpfile(split_wn, str(inp), units="CMH")
    meters = PatternDemand.for_nodes(network, list(layout.demands)) if layout.demands else None
    en = toolkit.ENepanet()
    en.ENopen(str(inp), str(inp.with_suffix(".rpt")), "")
    try:
        rows = _run(en, layout, leaks, leak_nodes, times, day_factor, step_seconds, progress)
    finally:
        en.ENclose()
        inp.unlink(missing_ok=True)
        inp.with_suffix(".rpt").unlink(missing_ok=True)
    pressures, flows, levels, leak_flows, factors = rows
    tow = ((times - pd.Timestamp(PATTERN_ORIGIN)).total_seconds().to_numpy()) % (7 * 86400)
    _write(
        out_dir,
        "pressures",
        times,
        layout.pressures,
        pressures + rng.normal(0, noise.pressure, pressures.shape),
        2,
    )
    _write(out_dir, "flows", times, layout.flows, flows * (1 + rng.normal(0, noise.flow, flows.shape)), 2)
    if layout.levels:
        _write(out_dir, "levels", times, layout.levels, levels + rng.normal(0, noise.level, levels.shape), 2)
    if meters is not None:
        true = np.array([meters.at(x) for x in tow]) * factors[:, None]
        readings = np.maximum(true * (1 + rng.normal(0, noise.meter, true.shape)), 0.0)
        _write(out_dir, "demands", times, layout.demands, readings, 1)
    _write(out_dir, "leak_flows", times, tuple(leak.pipe for leak in leaks), leak_flows, 3)
    write_leaks(out_dir / "leaks.csv", leaks)
    return out_dir


def _split_leak_pipes(
    network: NetworkModel, leaks: list[LeakRecord]
) -> tuple[wntr.network.WaterNetworkModel, list[str]]:
    wn = wntr.network.WaterNetworkModel(str(network.source)) if network.source else _copy(network.wn)
    nodes = []
    for leak in leaks:
        node = f"leak_{leak.pipe}"
        if node not in wn.node_name_list:
            wn = wntr.morph.split_pipe(wn, leak.pipe, f"{leak.pipe}_b", node)
        nodes.append(node)
    return wn, nodes


def _copy(wn: wntr.network.WaterNetworkModel) -> wntr.network.WaterNetworkModel:
    return wntr.network.from_dict(wntr.network.to_dict(wn))


def _run(en, layout, leaks, leak_nodes, times, day_factor, step_seconds, progress):
    lib, ph = en.ENlib, en._project
    en.ENsettimeparam(EN.HYDSTEP, step_seconds)
    en.ENsettimeparam(EN.DURATION, len(times) * step_seconds)
    start_tow = (times[0] - pd.Timestamp(PATTERN_ORIGIN)).total_seconds() % (7 * 86400)
    en.ENsettimeparam(EN.PATTERNSTART, int(start_tow))
    p_idx = [en.ENgetnodeindex(n) for n in layout.pressures]
    f_idx = [en.ENgetlinkindex(n) for n in layout.flows]
    l_idx = [en.ENgetnodeindex(n) for n in layout.levels]
    k_idx = [en.ENgetnodeindex(n) for n in leak_nodes]
    n = len(times)
    pressures = np.zeros((n, len(p_idx)))
    flows = np.zeros((n, len(f_idx)))
    levels = np.zeros((n, len(l_idx)))
    leak_flows = np.zeros((n, len(leaks)))
    factors = np.zeros(n)
    en.ENopenH()
    en.ENinitH(0)
    clock, i = 0, 0
    while i < n:
        t = times[i].to_pydatetime()
        factors[i] = day_factor[t.date()]
        lib.EN_setoption(ph, ctypes.c_int(4), ctypes.c_double(factors[i]))
        for j, leak in enumerate(leaks):
            en.ENsetnodevalue(k_idx[j], EN.EMITTER, leak_coefficient(leak, t))
        now = en.ENrunH()
        if now >= clock:  # an intermediate solve (control or tank event) is not a reading
            pressures[i] = [en.ENgetnodevalue(k, EN.PRESSURE) for k in p_idx]
            flows[i] = [en.ENgetlinkvalue(k, EN.FLOW) for k in f_idx]
            levels[i] = [en.ENgetnodevalue(k, EN.PRESSURE) for k in l_idx]
            for j, leak in enumerate(leaks):
                c = leak_coefficient(leak, t)
                leak_flows[i, j] = c * math.sqrt(max(en.ENgetnodevalue(k_idx[j], EN.PRESSURE), 0.0))
            i += 1
            clock += step_seconds
            if progress and i % 288 == 0:
                progress(i, n)
        if en.ENnextH() <= 0:
            break
    en.ENcloseH()
    return pressures, flows, levels, leak_flows, factors


def _write(
    out_dir: Path, kind: str, times: pd.DatetimeIndex, names: tuple[str, ...], values: np.ndarray, digits: int
) -> None:
    frame = pd.DataFrame(np.round(values, digits), index=times, columns=list(names))
    frame.index.name = "Timestamp"
    frame.to_csv(out_dir / f"{kind}.csv.gz", date_format="%Y-%m-%d %H:%M:%S")


def _five(t: datetime) -> datetime:
    return t.replace(minute=(t.minute // 5) * 5, second=0, microsecond=0)


def random_leaks(
    network: NetworkModel,
    *,
    start: datetime,
    end: datetime,
    count: int,
    seed: int,
    diameters: tuple[float, float] = (0.008, 0.024),
    max_pipe_diameter: float = 0.3,
) -> list[LeakRecord]:
    """``count`` leaks on random distinct pipes, half abrupt (repaired after 1–5 weeks), half incipient
    (growing 1–12 weeks to their peak; a third of them still open at ``end``)."""
    rng = np.random.default_rng(seed)
    wn = network.wn
    pipes = [p for p in network.pipes if wn.get_link(p).diameter <= max_pipe_diameter]
    chosen = rng.choice(pipes, size=count, replace=False)
    span = (end - start).total_seconds()
    leaks = []
    for pipe in chosen:
        t0 = _five(start + timedelta(seconds=float(rng.uniform(0.02, 0.9) * span)))
        diameter = float(np.exp(rng.uniform(np.log(diameters[0]), np.log(diameters[1]))))
        if rng.random() < 0.5:
            t1 = min(t0 + timedelta(days=float(rng.uniform(7, 35))), end - timedelta(minutes=5))
            leaks.append(LeakRecord(str(pipe), t0, t1, round(diameter, 5), "abrupt", t0))
        else:
            peak = t0 + timedelta(days=float(rng.uniform(7, 84)))
            t1 = (
                end + timedelta(days=365)
                if rng.random() < 1 / 3
                else peak + timedelta(days=float(rng.uniform(3, 40)))
            )
            leaks.append(LeakRecord(str(pipe), t0, t1, round(diameter, 5), "incipient", peak))
    return sorted(leaks, key=lambda leak: leak.start)


def tank_shortfall_hours(levels: pd.DataFrame, floor: float) -> float:
    """Hours in which any tank's level was below ``floor`` m (5-minute or other regular steps).

    A synthetic year in which the tank runs dry is a supply failure (demand plus leaks beyond what the
    sources deliver), a regime the real data never show and no utility would run for long: it is no
    test of leak detection, so a generator re-draws such a year rather than keep it."""
    if levels.empty:
        return 0.0
    step_h = step_hours(levels)
    below = (levels.to_numpy(dtype=float) < floor).any(axis=1)
    return float(below.sum()) * step_h
