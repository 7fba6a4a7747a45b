"""The naive detector the model-based one must beat (issue 8): night inflow up two nights running, and
the pipe at the pressure sensor whose night pressure fell most.

Night = 02:00–04:00. A night is "up" when its mean inflow exceeds the median of the previous seven
nights by more than ``sigmas`` robust standard deviations of night-to-night changes. After a detection
the baseline restarts (seven quiet nights). No network model and no meters: the daily random factor of
demand is what makes it raise false alarms.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from cityloop.twin.leaks.network import NetworkModel
from cityloop.twin.leaks.scada import ScadaData

NIGHT = (2, 4)  # hours [from, to)
BASE_NIGHTS = 7


def inflow_links(network: NetworkModel, flows: list[str]) -> list[str]:
    """Flow sensors on links that leave a reservoir: together they measure what enters the network."""
    reservoirs = set(network.wn.reservoir_name_list)
    out = []
    for name in flows:
        link = network.wn.get_link(name)
        if link.start_node_name in reservoirs or link.end_node_name in reservoirs:
            out.append(name)
    return out or list(flows)


def naive_detections(
    network: NetworkModel, data: ScadaData, *, sigmas: float = 3.0
) -> list[tuple[str, datetime]]:
    flows = data.frames["flows"]
    inflow = flows[inflow_links(network, list(flows.columns))].abs().sum(axis=1)
    pressures = data.frames["pressures"]
    hours = inflow.index.hour
    night = (hours >= NIGHT[0]) & (hours < NIGHT[1])
    night_q = inflow[night].groupby(inflow.index[night].date).mean()
    night_p = pressures[night].groupby(pressures.index[night].date).mean()
    changes = np.diff(night_q.to_numpy())
    spread = 1.4826 * float(np.median(np.abs(changes - np.median(changes)))) if len(changes) else 1.0
    out: list[tuple[str, datetime]] = []
    days = list(night_q.index)
    since = 0  # first night of the current baseline
    for i in range(len(days)):
        if i - since < BASE_NIGHTS + 1:
            continue
        base_q = float(np.median(night_q.iloc[i - BASE_NIGHTS - 1 : i - 1]))
        up = night_q.iloc[i - 1] - base_q > sigmas * spread and night_q.iloc[i] - base_q > sigmas * spread
        if not up:
            continue
        base_p = night_p.iloc[i - BASE_NIGHTS - 1 : i - 1].median()
        drop = (base_p - night_p.iloc[i]).idxmax()
        day = days[i]
        out.append((_pipe_at(network, str(drop)), datetime(day.year, day.month, day.day, NIGHT[1], 0)))
        since = i + 1
    return out


def _pipe_at(network: NetworkModel, node: str) -> str:
    pipes = [p for p in network.wn.get_links_for_node(node) if p in network.wn.pipe_name_list]
    return sorted(pipes)[0] if pipes else network.pipes[0]


def night_series(data: ScadaData) -> pd.Series:
    """Mean night inflow per day (m³/h), for reports."""
    flows = data.frames["flows"]
    total = flows.abs().sum(axis=1)
    night = (total.index.hour >= NIGHT[0]) & (total.index.hour < NIGHT[1])
    return total[night].groupby(total.index[night].date).mean()
