"""Small hand-built water networks for the leak tests (WNTR models, SI units inside WNTR)."""

from __future__ import annotations

import wntr

from cityloop.twin.leaks.network import NetworkModel
from cityloop.twin.leaks.records import SensorLayout


def chain(pipes: int = 8, length: float = 100.0) -> NetworkModel:
    """Reservoir R → J0 → J1 → … → J{pipes}; pipe pk joins J(k-1) and Jk, every pipe ``length`` m.
    The distance between the centres of pk and pj (k ≠ j) is then length·|k − j|."""
    wn = wntr.network.WaterNetworkModel()
    wn.add_reservoir("R", base_head=50.0)
    for k in range(pipes + 1):
        wn.add_junction(f"J{k}", base_demand=0.0, elevation=0.0)
    wn.add_pipe("p0", "R", "J0", length=length, diameter=0.3, roughness=120)
    for k in range(1, pipes + 1):
        wn.add_pipe(f"p{k}", f"J{k - 1}", f"J{k}", length=length, diameter=0.2, roughness=120)
    return NetworkModel.from_wn(wn, name="chain")


def grid(side: int = 5, length: float = 100.0) -> tuple[NetworkModel, SensorLayout]:
    """A ``side``×``side`` grid of junctions 100 m apart fed from one reservoir at a corner, every
    junction with a small demand on a daily pattern; a handful of pressure sensors, the inflow meter
    and smart meters on every other junction."""
    wn = wntr.network.WaterNetworkModel()
    wn.options.time.pattern_timestep = 3600
    wn.options.time.hydraulic_timestep = 300
    day = [
        0.5,
        0.4,
        0.4,
        0.4,
        0.5,
        0.7,
        1.0,
        1.3,
        1.4,
        1.3,
        1.2,
        1.2,
        1.2,
        1.1,
        1.0,
        1.0,
        1.1,
        1.3,
        1.5,
        1.5,
        1.3,
        1.1,
        0.8,
        0.6,
    ]
    wn.add_pattern("day", day)
    wn.add_reservoir("R", base_head=60.0)
    for r in range(side):
        for c in range(side):
            wn.add_junction(f"n{r}_{c}", base_demand=0.0005, demand_pattern="day", elevation=10.0 + 2 * c)
    wn.add_pipe("feed", "R", "n0_0", length=length, diameter=0.3, roughness=120)
    for r in range(side):
        for c in range(side):
            if c + 1 < side:
                wn.add_pipe(
                    f"h{r}_{c}", f"n{r}_{c}", f"n{r}_{c + 1}", length=length, diameter=0.15, roughness=110
                )
            if r + 1 < side:
                wn.add_pipe(
                    f"v{r}_{c}", f"n{r}_{c}", f"n{r + 1}_{c}", length=length, diameter=0.15, roughness=110
                )
    pressures = tuple(
        f"n{r}_{c}" for r, c in [(0, 2), (1, 4), (2, 1), (2, 3), (3, 0), (4, 2), (4, 4), (0, 4)]
    )
    meters = tuple(f"n{r}_{c}" for r in range(side) for c in range(side) if (r + c) % 2 == 0)
    return NetworkModel.from_wn(wn, name="grid"), SensorLayout(pressures, ("feed",), (), meters)
