"""Networks: import a model file with its elements and geometry, find it again, hand its file out.

An import is all or nothing: the file is read and checked, every element placed on the map and
the isolation-valve layer settled before anything is written. Re-importing a name replaces the
elements and bumps the version; the file's SHA-256 says which model a precompute belongs to.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.errors import NotFound, ValidationFailed
from cityloop.core.permissions import Principal
from cityloop.org.models import Unit
from cityloop.twin.formats import ParsedModel, read_model
from cityloop.twin.inpfile import ModelProblem
from cityloop.twin.models import Element, Network, NetworkKind, Precompute
from cityloop.twin.placement import Placement, PlacementError, projector

Actor = Principal | audit.Actor | None
VALVES_GENERATED = "generated-strategic-N-1"
VALVES_FILE = "file"
EXTENSIONS = {"water": ".inp", "drainage": ".inp", "gas": ".json"}


def import_network(
    session: Session,
    *,
    actor: Actor,
    kind: str,
    name: str,
    data: bytes,
    file_name: str,
    unit: Unit,
    placement: Placement | None,
    title: str | None = None,
    valves: list[tuple[str, str]] | None = None,
) -> Network:
    """Read, check, place and store a network model; raises ValidationFailed naming the problem."""
    name = name.strip()
    if not name or len(name) > 80 or "/" in name:
        raise ValidationFailed("twin.error.network_name", name=name)
    if kind not in NetworkKind.__members__:
        raise ValidationFailed("twin.model.kind_unknown", kind=kind)
    try:
        model = read_model(kind, data)
        geometry = _place(model, placement)
        layer, layer_source = _valve_layer(model, valves)
    except ModelProblem as exc:
        raise ValidationFailed(exc.key, details=exc.params, **exc.params) from None
    except PlacementError as exc:
        raise ValidationFailed(exc.key, details=exc.params, **exc.params) from None
    sha = hashlib.sha256(data).hexdigest()
    network = session.execute(select(Network).where(Network.name == name)).scalar_one_or_none()
    before = audit.snapshot(network, exclude={"model_bytes"}) if network else None
    if network is None:
        network = Network(name=name, kind=kind, unit_id=unit.id, version=1)
        session.add(network)
    else:
        if network.kind != kind:
            raise ValidationFailed("twin.error.network_kind_differs", name=name, kind=network.kind)
        network.version += 1
        session.execute(delete(Element).where(Element.network_id == network.id))
        session.execute(delete(Precompute).where(Precompute.network_id == network.id))
    network.title = title or network.title or name
    network.unit_id = unit.id
    network.file_name = Path(file_name).name[:200]
    network.file_format = model.file_format
    network.model_bytes = data
    network.sha256 = sha
    network.placement = placement.as_dict() if placement else {"method": "none"}
    network.schematic = bool(placement and placement.schematic)
    network.valve_layer = layer_source
    network.summary = _summary(model, geometry, layer)
    session.flush()
    _store_elements(session, network, model, geometry, layer)
    audit.record(
        session,
        actor=actor,
        action="import" if before is None else "reimport",
        entity_type="twin_network",
        entity_id=network.id,
        before=before,
        after=audit.snapshot(network, exclude={"model_bytes"}),
    )
    return network


def _place(model: ParsedModel, placement: Placement | None) -> dict[str, Any]:
    """GeoJSON geometry per (category, ref); every node must be placeable."""
    points = [n.xy for n in model.nodes if n.xy is not None]
    if placement is None:
        raise PlacementError("twin.placement.needed")
    project = projector(placement, points)
    node_ll: dict[str, tuple[float, float] | None] = {
        n.ref: project(n.xy) if n.xy is not None else None for n in model.nodes
    }
    out: dict[str, Any] = {}
    for n in model.nodes:
        ll = node_ll[n.ref]
        out[f"node:{n.ref}"] = {"type": "Point", "coordinates": list(ll)} if ll else None
    for link in model.links:
        assert link.ends is not None
        a, b = node_ll.get(link.ends[0]), node_ll.get(link.ends[1])
        if a is None or b is None:
            out[f"link:{link.ref}"] = None
            continue
        coords = [a, *(project(p) for p in link.path), b]
        out[f"link:{link.ref}"] = {"type": "LineString", "coordinates": [list(c) for c in coords]}
    for item in model.extra:
        ll = project(item.xy) if item.xy is not None else None
        out[f"node:{item.ref}"] = {"type": "Point", "coordinates": list(ll)} if ll else None
    if not any(out.values()):
        raise PlacementError("twin.placement.no_coordinates")
    return out


def _valve_layer(
    model: ParsedModel, given: list[tuple[str, str]] | None
) -> tuple[list[tuple[str, str]], str]:
    """Isolation valves as (link, node) pairs: the user's layer, or a strategic N-1 layer."""
    if model.kind == "drainage":
        return [], "none"
    links = {link.ref: link for link in model.links}
    if given:
        for link_ref, node_ref in given:
            link = links.get(link_ref)
            if link is None or link.ends is None or node_ref not in link.ends:
                raise ModelProblem("twin.model.valve_unknown", {"link": link_ref, "node": node_ref})
        return list(dict.fromkeys(given)), VALVES_FILE
    return strategic_valves(model), VALVES_GENERATED


def strategic_valves(model: ParsedModel) -> list[tuple[str, str]]:
    """Strategic N-1 placement (as WNTR's ``generate_valve_layer('strategic', 1)``): at every node,
    a valve on each connected pipe except one. Deterministic: the widest pipe stays unvalved."""
    incident: dict[str, list[tuple[float, str]]] = {}
    for link in model.links:
        if link.type != "pipe" or link.ends is None:
            continue
        width = float(link.props.get("diameter_m") or link.props.get("diameter_mm") or 0)
        for node in link.ends:
            incident.setdefault(node, []).append((width, link.ref))
    layer: list[tuple[str, str]] = []
    for node, pipes in incident.items():
        ranked = sorted(pipes, key=lambda p: (-p[0], p[1]))
        layer.extend((ref, node) for _, ref in ranked[1:])
    return layer


def _summary(model: ParsedModel, geometry: dict[str, Any], layer: list[tuple[str, str]]) -> dict[str, Any]:
    counts = Counter(n.type for n in model.nodes) + Counter(link.type for link in model.links)
    counts.update(item.type for item in model.extra)
    placed = [g["coordinates"] for k, g in geometry.items() if g and k.startswith("node:")]
    bbox = None
    if placed:
        lons, lats = [c[0] for c in placed], [c[1] for c in placed]
        bbox = [min(lons), min(lats), max(lons), max(lats)]
    demand = sum(n.props.get("base_demand_lps") or 0 for n in model.nodes)
    return {
        "counts": dict(counts),
        "valves": len(layer),
        "bbox": bbox,
        "unplaced": sum(1 for g in geometry.values() if g is None),
        "base_demand_lps": round(demand, 3),
        "meta": model.meta,
    }


def _store_elements(
    session: Session,
    network: Network,
    model: ParsedModel,
    geometry: dict[str, Any],
    layer: list[tuple[str, str]],
) -> None:
    rows: list[dict[str, Any]] = []
    for n in [*model.nodes, *model.extra]:
        rows.append(
            {
                "network_id": network.id,
                "category": "node",
                "ref": n.ref,
                "type": n.type,
                "geometry": geometry.get(f"node:{n.ref}"),
                "props": n.props,
            }
        )
    for link in model.links:
        props = {**link.props, "from": link.ends[0] if link.ends else None}
        props["to"] = link.ends[1] if link.ends else None
        rows.append(
            {
                "network_id": network.id,
                "category": "link",
                "ref": link.ref,
                "type": link.type,
                "geometry": geometry.get(f"link:{link.ref}"),
                "props": props,
            }
        )
    node_geo = {n.ref: geometry.get(f"node:{n.ref}") for n in model.nodes}
    for i, (link_ref, node_ref) in enumerate(layer, start=1):
        rows.append(
            {
                "network_id": network.id,
                "category": "valve",
                "ref": f"V{i}",
                "type": "isolation_valve",
                "geometry": node_geo.get(node_ref),
                "props": {
                    "link": link_ref,
                    "node": node_ref,
                    "generated": network.valve_layer == VALVES_GENERATED,
                },
            }
        )
    for start in range(0, len(rows), 2000):
        session.execute(insert(Element), rows[start : start + 2000])


# --- finding networks ----------------------------------------------------------------------------


def get_network(session: Session, *, name: str) -> Network:
    network = session.execute(select(Network).where(Network.name == name)).scalar_one_or_none()
    if network is None:
        raise NotFound("twin.error.network_not_found", name=name)
    return network


def network_in_scope(session: Session, *, principal: Principal, name: str) -> Network:
    """A network as ``principal`` sees it: another utility's network is indistinguishable from none."""
    network = session.execute(select(Network).where(Network.name == name)).scalar_one_or_none()
    if network is None or not principal.sees_path(network.unit.path):
        raise NotFound("twin.error.network_not_found", name=name)
    return network


def list_networks(session: Session, *, principal: Principal) -> Sequence[Network]:
    stmt = (
        select(Network)
        .join(Unit, Network.unit_id == Unit.id)
        .where(Unit.path.startswith(principal.scope_path))
        .order_by(Network.kind, Network.name)
    )
    return session.execute(stmt).scalars().all()


def elements(session: Session, *, network: Network, category: str | None = None) -> Sequence[Element]:
    stmt = select(Element).where(Element.network_id == network.id)
    if category:
        stmt = stmt.where(Element.category == category)
    return session.execute(stmt.order_by(Element.id)).scalars().all()


def model_path(network: Network) -> Path:
    """The stored model file on disk (content-addressed, written once per version)."""
    folder = Path(tempfile.gettempdir()) / "cityloop-twin-models"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{network.name}-{network.sha256[:16]}{EXTENSIONS.get(network.kind, '.dat')}"
    if not path.exists() or path.stat().st_size != len(network.model_bytes):
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(network.model_bytes)
        tmp.replace(path)
    return path


def resolve_network(name: str, *, session: Session | None = None) -> Path:
    """The model file of the stored network ``name`` (an EPANET .inp for water), for tools that
    read files, such as ``--network NAME`` of the leak-detection commands. Raises NotFound."""
    if session is not None:
        return model_path(get_network(session, name=name))
    from cityloop.core.db import session_scope

    with session_scope(write=False) as own:
        return model_path(get_network(own, name=name))
