"""Small networks for the twin tests: Net1 (water, shipped in WNTR), the demo SWMM model, a tiny
pandapipes gas network built here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

DEMO_DATA = Path(__file__).resolve().parents[2] / "src" / "cityloop" / "twin" / "demo_data"
ORIGIN = (106.50, 29.50)


def net_path(name: str) -> Path:
    import wntr

    return Path(wntr.library.model_library.get_filepath(name))


@pytest.fixture(autouse=True)
def _fresh_caches() -> Any:
    """Rolled-back tests reuse ids: per-process caches keyed by id must not outlive a test."""
    from cityloop.twin import api, impact

    impact._topologies.clear()
    api._INGESTOR.reset()
    yield
    impact._topologies.clear()
    api._INGESTOR.reset()


@pytest.fixture
def place() -> Any:
    from cityloop.twin.placement import Placement

    return Placement.from_options(crs=None, origin=ORIGIN, scale=5.0)


def import_water(db: Any, name: str = "net1", inp: str = "Net1", **kw: Any) -> Any:
    from cityloop.core.audit import Actor
    from cityloop.org import service as org
    from cityloop.twin import networks
    from cityloop.twin.placement import Placement

    return networks.import_network(
        db,
        actor=Actor("test"),
        kind="water",
        name=name,
        data=net_path(inp).read_bytes(),
        file_name=f"{inp}.inp",
        unit=org.find_unit(db, ref="util-water"),
        placement=Placement.from_options(crs=None, origin=ORIGIN, scale=5.0),
        **kw,
    )


@pytest.fixture
def net1(db: Any) -> Any:
    return import_water(db)


def add_sensor(db: Any, code: str, kind: str, network: Any, asset: str, **kw: Any) -> Any:
    from cityloop.core.audit import Actor
    from cityloop.twin import service

    return service.create_sensor(
        db, actor=Actor("test"), code=code, kind=kind, network=network, asset_ref=asset, **kw
    )


def gas_json(*, bad: str | None = None) -> bytes:
    """A small low-pressure gas network (5 junctions, 4 pipes, 3 houses) as pandapipes JSON."""
    import warnings

    import pandapipes as pp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = pp.create_empty_network(fluid="lgas")
        js = [
            pp.create_junction(
                net, pn_bar=0.1, tfluid_k=283.15, geodata=(i * 50.0, (i % 2) * 30.0), name=f"G{i}"
            )
            for i in range(5)
        ]
        pp.create_ext_grid(net, junction=js[0], p_bar=0.1, t_k=283.15)
        for i in range(4):
            length = -0.05 if bad == "negative" and i == 2 else 0.05
            pp.create_pipe_from_parameters(
                net, js[i], js[i + 1], length_km=length, inner_diameter_mm=80, name=f"GP{i}"
            )
        for i, j in enumerate((2, 3, 4)):
            pp.create_sink(net, js[j], mdot_kg_per_s=0.002, name=f"H{i}")
        return pp.to_json(net).encode()
