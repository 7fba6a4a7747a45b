"""Demo twin: three networks placed (schematically) in the demo district, with sensors.

- water: EPANET's Net3 (shipped inside WNTR), drawn over 杨家坪 at 80 m per drawing unit, with a
  strategic N-1 valve layer generated at import and three facilities tagged on demand nodes;
- drainage: a small SWMM storm-sewer catchment written for the demo (``demo_data``), over 谢家湾;
- gas: a small low-pressure grid built with pandapipes and imported from its JSON, over 石坪桥.

Every network is marked schematic (placed by offset/scale); ``cityloop twin simulate`` feeds the
sensors. Two more operator accounts (drainage, gas) join the foundation's water operator.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.audit import Actor
from cityloop.org import service as org
from cityloop.org.demo import DEMO_PASSWORD
from cityloop.twin import case_bridge, networks, service
from cityloop.twin.formats import quiet
from cityloop.twin.models import Element, Network
from cityloop.twin.placement import Placement

ACTOR = Actor("seed-demo")
DATA = Path(__file__).resolve().parent / "demo_data"

WATER_SENSORS = [  # code, kind, asset, name
    ("W-P-101", "pressure", "101", "101 节点压力"),
    ("W-P-123", "pressure", "123", "123 节点压力"),
    ("W-P-153", "pressure", "153", "153 节点压力"),
    ("W-P-197", "pressure", "197", "197 节点压力"),
    ("W-P-247", "pressure", "247", "247 节点压力"),
    ("W-P-209", "pressure", "209", "209 节点压力"),
    ("W-L-1", "level", "1", "1 号水塔液位"),
    ("W-L-2", "level", "2", "2 号水塔液位"),
]
FACILITIES = {
    "197": {"name": "九龙坡区人民医院（示例）", "kind": "hospital"},
    "153": {"name": "杨家坪小学（示例）", "kind": "school"},
    "247": {"name": "社区养老服务站（示例）", "kind": "elderly_station"},
}
DRAIN_SENSORS = [
    ("D-RAIN-1", "rainfall", "J4", "谢家湾雨量站"),
    ("D-WL-J8", "water_level", "J8", "J8 下穿道积水"),
    ("D-WL-J5", "water_level", "J5", "J5 路面积水"),
    ("D-MC-J6", "manhole_cover", "J6", "J6 井盖状态"),
]
GAS_SENSORS = [
    ("G-CH4-1", "gas", "G-2-3", "2-3 阀井可燃气体"),
    ("G-CH4-2", "gas", "G-4-1", "4-1 管沟可燃气体"),
    ("G-CH4-3", "gas", "G-1-5", "1-5 窨井可燃气体"),
]
OPERATORS = [
    ("operator-drain", "util-drain", "排水运营值班员"),
    ("operator-gas", "util-gas", "燃气运营值班员"),
]


def gas_network_json(rows: int = 5, cols: int = 6, spacing_m: float = 120.0, houses: int = 24) -> bytes:
    """A low-pressure (100 mbar) town grid with houses as sinks, as pandapipes JSON."""
    import pandapipes as pp

    rng = random.Random(500107)
    with quiet():
        net = pp.create_empty_network(fluid="lgas", name="cityloop demo gas grid")
        j: dict[tuple[int, int], int] = {}
        for r in range(rows):
            for c in range(cols):
                j[(r, c)] = pp.create_junction(
                    net,
                    pn_bar=0.1,
                    tfluid_k=283.15,
                    geodata=(c * spacing_m, r * spacing_m),
                    name=f"G-{r}-{c}",
                )
        pp.create_ext_grid(net, junction=j[(0, 0)], p_bar=0.1, t_k=283.15, name="调压站")
        for (r, c), jid in j.items():
            main = r == 0 or c == 0
            if c + 1 < cols:
                pp.create_pipe_from_parameters(
                    net, jid, j[(r, c + 1)], length_km=spacing_m / 1000,
                    inner_diameter_mm=150 if main else 100, name=f"GP-{r}-{c}-E",
                )  # fmt: skip
            if r + 1 < rows:
                pp.create_pipe_from_parameters(
                    net, jid, j[(r + 1, c)], length_km=spacing_m / 1000,
                    inner_diameter_mm=150 if c == 0 else 80, name=f"GP-{r}-{c}-N",
                )  # fmt: skip
        for i in range(houses):
            r, c = rng.randrange(rows), rng.randrange(1, cols)
            pp.create_sink(
                net, j[(r, c)], mdot_kg_per_s=0.0008 + rng.random() * 0.0008, name=f"户{i + 1:02d}"
            )
        return str(pp.to_json(net)).encode()


def seed(session: Session) -> bool:
    """Create the demo networks once; False when they are there already."""
    if session.execute(select(Network.id).where(Network.name == "demo-water")).first():
        return False
    for username, unit_code, display in OPERATORS:
        org.create_user(
            session, actor=ACTOR, username=username, password=DEMO_PASSWORD, role="operator",
            unit=org.find_unit(session, ref=unit_code), display_name=display,
        )  # fmt: skip
    import wntr

    water = _import(
        session, "water", "demo-water", Path(wntr.library.model_library.get_filepath("Net3")).read_bytes(),
        "Net3.inp", "util-water", "Net3 示例供水管网（示意位置）", (106.512, 29.505), 80.0,
    )  # fmt: skip
    _tag_facilities(session, water)
    drain = _import(
        session, "drainage", "demo-drainage", (DATA / "drainage_demo.inp").read_bytes(),
        "drainage_demo.inp", "util-drain", "谢家湾示例雨水管网（示意位置）", (106.530, 29.522), 1.5,
    )  # fmt: skip
    gas = _import(
        session, "gas", "demo-gas", gas_network_json(), "demo_gas.json", "util-gas",
        "石坪桥示例燃气管网（示意位置）", (106.497, 29.493), 1.0,
    )  # fmt: skip
    case_bridge.ensure_categories(session)  # the sensor categories of the case taxonomy
    for net, sensors in ((water, WATER_SENSORS), (drain, DRAIN_SENSORS), (gas, GAS_SENSORS)):
        for code, kind, asset, name in sensors:
            service.create_sensor(
                session, actor=ACTOR, code=code, kind=kind, network=net, asset_ref=asset, name=name
            )
    return True


def _import(
    session: Session, kind: str, name: str, data: bytes, file_name: str, unit: str, title: str,
    origin: tuple[float, float], scale: float,
) -> Network:  # fmt: skip
    placement = Placement.from_options(crs=None, origin=origin, scale=scale)
    return networks.import_network(
        session, actor=ACTOR, kind=kind, name=name, data=data, file_name=file_name,
        unit=org.find_unit(session, ref=unit), placement=placement, title=title,
    )  # fmt: skip


def _tag_facilities(session: Session, network: Network) -> None:
    """Critical facilities on demand nodes, so outage plans can name them."""
    for element in session.execute(
        select(Element).where(
            Element.network_id == network.id, Element.ref.in_(list(FACILITIES)), Element.category == "node"
        )
    ).scalars():
        props: dict[str, Any] = dict(element.props)
        props["facility"] = FACILITIES[element.ref]
        element.props = props
        audit.record(
            session, actor=ACTOR, action="tag_facility", entity_type="twin_element", entity_id=element.id,
            after={"network": network.name, "ref": element.ref, "facility": props["facility"]},
        )  # fmt: skip
    session.flush()
