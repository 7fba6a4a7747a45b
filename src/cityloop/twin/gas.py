"""Gas: pressure at every customer with a leak at a junction, and after isolating it (pandapipes).

A leak is a mass-flow sink (kg/s) at the junction; pandapipes solves the steady state. Pressures
in bar (gauge, as pandapipes reports them). Customers are the network's sinks; the minimum
pressure defaults to 90 % of the supply pressure when not given.
"""

from __future__ import annotations

import math
from typing import Any

from cityloop.twin.formats import load_pandapipes, quiet
from cityloop.twin.inpfile import ModelProblem


def _solve(net: Any) -> None:
    import pandapipes

    try:
        with quiet():
            pandapipes.pipeflow(net)
    except Exception as exc:  # pandapipes raises PipeflowNotConverged and friends
        raise ModelProblem("twin.model.engine_refused", {"engine": "pandapipes", "reason": str(exc)}) from exc


def leak_impact(
    data: bytes,
    *,
    junction_index: int,
    leak_kg_s: float,
    min_pressure_bar: float | None = None,
    customer_refs: dict[int, str] | None = None,
    isolate_pipes: list[int] | None = None,
) -> dict[str, Any]:
    """Customer pressures with the leak, those below the minimum, and with ``isolate_pipes`` shut
    the customers left without supply."""
    import pandapipes

    net = load_pandapipes(data)
    supply = float(net.ext_grid.p_bar.min()) if len(net.ext_grid) else 1.0
    minimum = min_pressure_bar if min_pressure_bar is not None else 0.9 * supply
    with quiet():
        pandapipes.create_sink(net, junction=junction_index, mdot_kg_per_s=leak_kg_s, name="cityloop-leak")
    _solve(net)
    refs = customer_refs or {}
    customers: list[dict[str, Any]] = []
    for idx, row in net.sink.iterrows():
        if row["name"] == "cityloop-leak":
            continue
        p = float(net.res_junction.at[int(row["junction"]), "p_bar"])
        customers.append(
            {
                "customer": refs.get(int(idx), str(row["name"])),
                "p_bar": None if math.isnan(p) else round(p, 5),
            }
        )
    below = [c for c in customers if c["p_bar"] is None or c["p_bar"] < minimum]
    result: dict[str, Any] = {
        "kind": "gas",
        "leak_kg_s": leak_kg_s,
        "supply_bar": supply,
        "min_pressure_bar": round(minimum, 5),
        "leak_junction_p_bar": round(float(net.res_junction.at[junction_index, "p_bar"]), 5),
        "customers": customers,
        "below_minimum": below,
    }
    if isolate_pipes:
        net.pipe.loc[isolate_pipes, "in_service"] = False
        leak_rows = net.sink.index[net.sink.name == "cityloop-leak"]
        net.sink.loc[leak_rows, "in_service"] = False
        _solve(net)
        lost = []
        for idx, row in net.sink.iterrows():
            if row["name"] == "cityloop-leak":
                continue
            p = float(net.res_junction.at[int(row["junction"]), "p_bar"])
            if math.isnan(p) or p < minimum:
                lost.append(refs.get(int(idx), str(row["name"])))
        result["isolated_pipes"] = len(isolate_pipes)
        result["customers_without_gas_after_isolation"] = lost
    return result
