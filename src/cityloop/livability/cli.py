"""``cityloop livability …``: walking network, facilities, residential areas, accessibility, siting."""

from __future__ import annotations

from pathlib import Path

import typer

from cityloop.core.audit import Actor
from cityloop.core.cliutil import COUNT, FINITE, ID, cli_errors, console, fail

livability_app = typer.Typer(help="15-minute life-service circle (15分钟生活服务圈)", no_args_is_help=True)
CLI_ACTOR = Actor("cli")


def _type_map(text: str | None) -> dict[str, str]:
    """ "公交站=bus_stop,养老服务站=elderly_station" → {"公交站": "bus_stop", …}."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        source, sep, code = part.partition("=")
        if not sep or not source.strip() or not code.strip():
            raise fail(f"--type-map entries are SOURCE=CODE, not {part!r}")
        out[source.strip()] = code.strip()
    return out


@livability_app.command("import-network")
@cli_errors
def import_network(
    osm: Path = typer.Option(..., "--osm", help="OpenStreetMap file: .osm (XML) or .osm.pbf"),
) -> None:
    """Import the walking network (walkable ways only) and make it the active one."""
    from cityloop.core.db import session_scope
    from cityloop.livability import service

    with session_scope() as session:
        row = service.import_network(session, actor=CLI_ACTOR, path=osm)
        console.print(
            f"walking network {row.id} active: {row.node_count} nodes, {row.edge_count} edges, "
            f"{row.length_km:.1f} km (from {row.source})"
        )


@livability_app.command("load-default-types")
@cli_errors
def load_default_types() -> None:
    """Configure the default facility types (GB 50180-2018 service radii); existing ones stay."""
    from cityloop.core.db import session_scope
    from cityloop.livability import service

    with session_scope() as session:
        created = service.load_default_types(session, actor=CLI_ACTOR)
        console.print(f"{len(created)} facility types added: " + (", ".join(t.code for t in created) or "-"))


@livability_app.command("import-facilities")
@cli_errors
def import_facilities(
    file: Path = typer.Argument(..., help="GeoJSON or CSV of points"),
    type_code: str = typer.Option(None, "--type", help="every row is of this facility type"),
    type_field: str = typer.Option("type", "--type-field", help="property holding the row's type"),
    type_map: str = typer.Option(None, "--type-map", help="SOURCE=CODE,… translating --type-field values"),
    name_field: str = typer.Option("name", "--name-field"),
    crs: str = typer.Option("wgs84", "--crs", help="wgs84, gcj02 or bd09"),
    replace: bool = typer.Option(False, "--replace", help="retire existing facilities of these types"),
) -> None:
    """Import facilities; every row is checked first and nothing is saved if one is bad."""
    from cityloop.core.db import session_scope
    from cityloop.livability import service

    data = file.read_bytes()
    with session_scope() as session:
        count = service.import_facilities(
            session,
            actor=CLI_ACTOR,
            principal=None,
            data=data,
            filename=file.name,
            fixed_type=type_code,
            type_field=type_field,
            type_map=_type_map(type_map),
            name_field=name_field,
            crs=crs,
            replace=replace,
        )
    console.print(f"{count} facilities imported from {file.name}")


@livability_app.command("import-areas")
@cli_errors
def import_areas(
    file: Path = typer.Argument(..., help="GeoJSON or CSV: name, population, elderly_population"),
    crs: str = typer.Option("wgs84", "--crs", help="wgs84, gcj02 or bd09"),
    replace: bool = typer.Option(False, "--replace", help="delete the existing residential areas first"),
) -> None:
    """Import residential areas (小区) with population and elderly population; all or nothing."""
    from cityloop.core.db import session_scope
    from cityloop.livability import service

    data = file.read_bytes()
    with session_scope() as session:
        count = service.import_residential_areas(
            session, actor=CLI_ACTOR, principal=None, data=data, filename=file.name, crs=crs, replace=replace
        )
    console.print(f"{count} residential areas imported from {file.name}")


@livability_app.command("accessibility")
@cli_errors
def accessibility_cmd(
    out: Path = typer.Option(..., "--out", help="CSV file to write"),
    minutes: float = typer.Option(
        15.0, "--minutes", help="walking-time threshold for every type", parser=FINITE
    ),
    speed_kmh: float = typer.Option(4.5, "--speed-kmh", help="walking speed", parser=FINITE),
    per_type: bool = typer.Option(False, "--per-type", help="use each type's own threshold instead"),
) -> None:
    """Walking time from every residential area to the nearest facility of every type (stored as a
    run); writes one CSV row per residential area × type and prints district coverage."""
    from cityloop.core.db import session_scope
    from cityloop.livability import accessibility

    if out.parent and not out.parent.exists():
        raise fail(f"folder not found: {out.parent}")
    with session_scope() as session:
        run = accessibility.run(
            session, actor=CLI_ACTOR, minutes=None if per_type else minutes, speed_kmh=speed_kmh
        )
        rows = accessibility.results(session, run=run, principal=None)
        out.write_text(accessibility.to_csv(rows), encoding="utf-8")
        summary = [c for c in accessibility.coverage(rows) if c["unit"] == "*"]
    console.print(
        f"run {run.id}: {run.area_count} areas × {len(run.type_codes)} types in {run.seconds:.2f} s"
    )
    for c in summary:
        console.print(
            f"  {c['type']:<16} residents {_pct(c['population_share'])}  elderly {_pct(c['elderly_share'])}"
        )
    console.print(f"wrote {len(rows)} rows to {out}")


def _pct(share: float | None) -> str:
    return "   -  " if share is None else f"{share * 100:5.1f}%"


@livability_app.command("site")
@cli_errors
def site_cmd(
    type_code: str = typer.Option(..., "--type", help="facility type code"),
    k: int = typer.Option(..., "--k", help="number of new sites", parser=COUNT),
    candidates: str = typer.Option("idle-spaces", "--candidates", help="idle-spaces, or a GeoJSON/CSV file"),
    method: str = typer.Option("mclp", "--method", help="mclp (maximal covering) or pmedian"),
    weight: str = typer.Option(None, "--weight", help="population or elderly (default by type)"),
    minutes: float = typer.Option(15.0, "--minutes", parser=FINITE),
    speed_kmh: float = typer.Option(4.5, "--speed-kmh", parser=FINITE),
) -> None:
    """Choose K new sites for a facility type to cover the most residents not yet covered."""
    from cityloop.core.db import session_scope
    from cityloop.livability import siting

    with session_scope() as session:
        if candidates == "idle-spaces":
            cands = siting.idle_space_candidates(session)
        else:
            path = Path(candidates)
            if not path.is_file():
                raise fail(f"--candidates is idle-spaces or a file; file not found: {path}")
            cands = siting.file_candidates(session, data=path.read_bytes(), filename=path.name)
        plan = siting.plan(
            session,
            actor=CLI_ACTOR,
            type_code=type_code,
            k=k,
            candidates=cands,
            candidate_source=candidates,
            method=method,
            weight_by=weight,
            minutes=minutes,
            speed_kmh=speed_kmh,
        )
        sites = siting.plan_sites(session, plan_id=plan.id)
        cov = plan.coverage
        console.print(
            f"plan {plan.id} ({plan.method}, {len(cands)} candidates, {plan.seconds:.2f} s): "
            f"{type_code} within {minutes:g} min"
        )
        console.print(
            f"  residents covered {cov['population_before']:.0f} → {cov['population_after']:.0f} "
            f"of {cov['population']:.0f}; elderly {cov['elderly_before']:.0f} → {cov['elderly_after']:.0f} "
            f"of {cov['elderly']:.0f}"
        )
        for s in sites:
            console.print(
                f"  site {s.id} #{s.rank} {s.name} ({s.lon:.6f}, {s.lat:.6f}) {s.unit.name}: "
                f"+{s.added_population} residents, +{s.added_elderly} elderly"
            )


@livability_app.command("propose-task")
@cli_errors
def propose_task_cmd(
    site_id: int = typer.Argument(..., help="plan site id printed by `site`", parser=ID),
) -> None:
    """Create a task in the 15-minute-circle action for a chosen site."""
    from cityloop import bridges
    from cityloop.core.db import session_scope
    from cityloop.core.errors import NotFound
    from cityloop.livability import task_bridge
    from cityloop.livability.models import PlanSite

    bridges.install()
    with session_scope() as session:
        site = session.get(PlanSite, site_id)
        if site is None:
            raise NotFound("livability.site_not_found", id=site_id)
        ref = task_bridge.propose_task(session, site=site, facility_type=site.plan.type, actor=CLI_ACTOR)
    console.print(f"task created: {ref}")
