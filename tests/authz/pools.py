"""The pools of the ten actions, the twin, the 15-minute circle, resources and case intelligence: demo rows
of several units for each kind of record, and what the demo lacks (files, warnings, hotspots and their
proposals, a site plan), made through the API or the services."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.authz.world import HJP, YJP, Rec, World, png


def programme(w: World) -> None:
    from cityloop.programme.models import Action, Notice, Problem, Task

    def task_facts(t: Task) -> dict[str, Any]:
        a = t.action
        return {
            "responsible_path": t.responsible_unit.path,
            "lead_paths": [u.path for u in (a.lead_unit, a.taskforce_unit) if u is not None],
        }

    def task_rec(t: Task) -> Rec:
        return Rec(
            f"task {t.code} ({t.responsible_unit.code}, action {t.action.code})",
            {"task_id": t.id, "version": t.version},
            task_facts(t),
            (t.code,),
            (t.code,),
        )

    actions = {a.code: a for a in w.db.execute(select(Action)).scalars()}
    tasks = list(w.db.execute(select(Task).order_by(Task.id)).scalars())

    def pick(unit: str | None = None, action: str | None = None, not_action: tuple[str, ...] = ()) -> Task:
        for t in tasks:
            if unit and t.responsible_unit.code != unit:
                continue
            if action and t.action.code != action:
                continue
            if t.action.code in not_action:
                continue
            return t
        raise AssertionError(f"no demo task for {unit=} {action=}")

    cgj = ("CWZL", "KZFX")  # the actions 城管局 (the demo department) leads
    chosen = [
        pick(unit=YJP, not_action=cgj),
        pick(unit=HJP, not_action=cgj),
        pick(action="CWZL"),
        pick(action="SHQ", not_action=()),
        pick(action="TCZL"),
    ]
    w.pools["task"] = [task_rec(t) for t in chosen]
    w.pools["action"] = [
        Rec(
            f"action {a.code}",
            {"action_id": a.id, "action": a.code},
            {"lead_paths": [u.path for u in (a.lead_unit, a.taskforce_unit) if u is not None]},
            (a.name,),
            (a.name,),
        )
        for a in (actions["CWZL"], actions["NJAJ"], actions["SHQ"], actions["TCZL"])
    ]
    problems = list(w.db.execute(select(Problem).order_by(Problem.id)).scalars())

    def problem_rec(p: Problem) -> Rec:
        a = p.action
        return Rec(
            f"problem {p.number} ({p.responsible_unit.code}, action {a.code})",
            {"problem_id": p.id, "version": p.version},
            {
                "responsible_path": p.responsible_unit.path,
                "lead_paths": [u.path for u in (a.lead_unit, a.taskforce_unit) if u is not None],
                "task": task_facts(w.db.get(Task, p.task_id)) if p.task_id is not None else None,
            },
            (p.number,),
            (p.number,),
        )

    by_unit = {}
    for p in problems:
        by_unit.setdefault(p.responsible_unit.code, p)
    w.pools["problem"] = [problem_rec(by_unit[c]) for c in (YJP, HJP, "dept-yjj")]
    notices = list(w.db.execute(select(Notice).order_by(Notice.id)).scalars())
    first = {}
    for n in notices:
        if n.to_unit.code not in first or n.state == "open" != first[n.to_unit.code].state:
            first[n.to_unit.code] = n  # an open one where there is one
    w.pools["notice"] = [
        Rec(
            f"notice {n.number} (to {n.to_unit.code})",
            {"notice_id": n.id},
            {"to_path": n.to_unit.path, "task": task_facts(n.task)},
            (n.number,),
            (n.number,),
        )
        for n in (first[YJP], first[HJP], first["dept-jtj"])
    ]
    evidence = []
    for owner, rec in (("task", w.pools["task"][0]), ("task", w.pools["task"][1])):
        marker = f"AUTHZ-EVIDENCE-{owner}-{rec.params['task_id']}"
        out = w.post(
            "admin",
            "/api/v1/programme/evidence",
            files={"file": ("e.png", png(marker), "image/png")},
            data={"task_id": str(rec.params["task_id"])},
        )
        evidence.append(
            Rec(
                f"evidence of {rec.label}",
                {"evidence_id": out["id"]},
                {"kind": owner, "owner": rec.facts},
                (marker,),
                (marker,),
            )
        )
    prec = w.pools["problem"][1]
    marker = f"AUTHZ-EVIDENCE-problem-{prec.params['problem_id']}"
    out = w.post(
        "admin",
        "/api/v1/programme/evidence",
        files={"file": ("p.png", png(marker), "image/png")},
        data={"problem_id": str(prec.params["problem_id"])},
    )
    evidence.append(
        Rec(
            f"evidence of {prec.label}",
            {"evidence_id": out["id"]},
            {"kind": "problem", "owner": prec.facts},
            (marker,),
            (marker,),
        )
    )
    w.pools["evidence"] = evidence


def twin(w: World) -> None:
    from datetime import timedelta

    from cityloop.core.audit import Actor
    from cityloop.core.clock import now
    from cityloop.twin.models import Network, Sensor, TwinWarning
    from cityloop.twin.telemetry import Ingestor, parse_http

    nets = {n.name: n for n in w.db.execute(select(Network)).scalars()}
    w.pools["network"] = [
        Rec(f"network {n.name}", {"name": n.name}, {"unit_path": n.unit.path}, (n.title,), (n.title,))
        for n in (nets["demo-water"], nets["demo-gas"], nets["demo-drainage"])
    ]
    sensors = {s.code: s for s in w.db.execute(select(Sensor)).scalars()}
    w.pools["sensor"] = [
        Rec(f"sensor {s.code}", {"code": s.code}, {"unit_path": s.unit.path}, (s.name,), (s.name,))
        for s in (sensors["W-P-101"], sensors["G-CH4-1"], sensors["D-WL-J8"])
    ]
    t0 = now() - timedelta(minutes=30)
    readings = [
        {"sensor": "W-P-101", "ts": t0.isoformat(), "value": 40},
        {"sensor": "W-P-101", "ts": (t0 + timedelta(minutes=1)).isoformat(), "value": 9},
        {"sensor": "G-CH4-1", "ts": t0.isoformat(), "value": 25},
    ]
    Ingestor(actor=Actor("authz")).ingest(w.db, parse_http(readings), channel="http")
    w.db.flush()
    warnings = []
    for code in ("W-P-101", "G-CH4-1"):
        found = (
            w.db.execute(
                select(TwinWarning).where(TwinWarning.sensor_id == sensors[code].id).order_by(TwinWarning.id)
            )
            .scalars()
            .first()
        )
        assert found is not None, f"no warning for {code}"
        warnings.append(
            Rec(
                f"warning of {code}",
                {"warning_id": found.id},
                {"unit_path": sensors[code].unit.path},
                (code,),
                (code,),
            )
        )
    w.pools["warning"] = warnings


def livability(w: World) -> None:
    from cityloop.livability.models import Facility, PlanSite, ResidentialArea

    streets = [w.unit(YJP), w.unit(HJP)]
    w.pools["street"] = [
        Rec(u.name, {"code": u.code}, {"unit_path": u.path}, (u.name,), (u.name,)) for u in streets
    ]
    places = []
    for u in streets:
        lon, lat = w.point(u.code, 0.0)
        places.append(
            Rec(f"a point in {u.name}", {"lon": lon, "lat": lat, "unit": u.code}, {"unit_path": u.path})
        )
    w.pools["place"] = places
    areas, facilities = [], []
    for u in streets:
        a = (
            w.db.execute(
                select(ResidentialArea).where(ResidentialArea.unit_id == u.id).order_by(ResidentialArea.id)
            )
            .scalars()
            .first()
        )
        areas.append(Rec(f"area {a.name}", {"area_id": a.id}, {"unit_path": u.path}, (a.name,), (a.name,)))
        f = (
            w.db.execute(
                select(Facility)
                .where(Facility.unit_id == u.id, Facility.active.is_(True))
                .order_by(Facility.id)
            )
            .scalars()
            .first()
        )
        facilities.append(
            Rec(f"facility {f.name}", {"facility_id": f.id}, {"unit_path": u.path}, (f.name,), (f.name,))
        )
    w.pools["area"], w.pools["facility"] = areas, facilities
    points = [[p.params["lon"], p.params["lat"]] for p in places]
    plan = w.post(
        "leader", "/api/v1/livability/site-plans", json={"type": "park", "k": 2, "candidates": points}
    )
    w.pools["plan"] = [Rec(f"site plan {plan['id']}", {"plan_id": plan["id"]})]
    sites = []
    for s in w.db.execute(
        select(PlanSite).where(PlanSite.plan_id == plan["id"]).order_by(PlanSite.id)
    ).scalars():
        sites.append(Rec(f"plan site {s.id} ({s.unit.code})", {"site_id": s.id}, {"unit_path": s.unit.path}))
    assert {s.facts["unit_path"] for s in sites} == {u.path for u in streets}, "a site in each street"
    w.pools["plan_site"] = sites


def resources(w: World) -> None:
    from cityloop.resources.models import Building, IdleSpace

    idle, buildings = [], []
    for code in (YJP, HJP):
        u = w.unit(code)
        s = (
            w.db.execute(select(IdleSpace).where(IdleSpace.unit_id == u.id).order_by(IdleSpace.id))
            .scalars()
            .first()
        )
        idle.append(
            Rec(f"idle space {s.name}", {"space_id": s.id}, {"unit_path": u.path}, (s.name,), (s.name,))
        )
        b = (
            w.db.execute(select(Building).where(Building.unit_id == u.id).order_by(Building.id))
            .scalars()
            .first()
        )
        buildings.append(
            Rec(
                f"building {b.code}",
                {"code": b.code, "period": latest_period(w, b)},
                {"unit_path": u.path},
                (b.name,),
                (b.name,),
            )
        )
    w.pools["idle"], w.pools["building"] = idle, buildings


def latest_period(w: World, building: Any) -> str:
    from cityloop.resources.models import BuildingReport

    found = (
        w.db.execute(
            select(BuildingReport.period)
            .where(BuildingReport.building_id == building.id)
            .order_by(BuildingReport.period.desc())
        )
        .scalars()
        .first()
    )
    return str(found)


def insight(w: World) -> None:
    from cityloop.insight.models import InsightHotspot, InsightProposal
    from cityloop.worker.runner import jobs

    texts = {
        "SJ0505": "幸福小区门口机动车长期乱停放在人行道上，行人无法通行",
        "SJ0508": "商铺门口大音箱噪音扰民，晚上十点以后还在放",
    }
    for grid in (f"{YJP}-C1-G1", f"{HJP}-C1-G1"):
        for category, text in texts.items():
            for i in range(5):
                lon, lat = w.point(grid, i * 0.00005)
                w.post(  # by an account whose own reports the matrix does not look at
                    "enforcement",
                    "/api/v1/cases",
                    json={"category": category, "description": text, "lon": lon, "lat": lat},
                )
    jobs()["insight.hotspots"].fn(w.db)
    w.db.flush()
    spots = []
    for code in (YJP, HJP):
        h = (
            w.db.execute(
                select(InsightHotspot)
                .where(InsightHotspot.street_id == w.unit(code).id)
                .order_by(InsightHotspot.rank)
            )
            .scalars()
            .first()
        )
        assert h is not None, f"no hotspot in {code}"
        spots.append(
            Rec(
                f"hotspot {h.key} ({code})",
                {"hotspot_id": h.id},
                {"street_path": w.unit(code).path},
                (h.key, f'data-rank="{h.rank}"'),
                (h.key, f'data-rank="{h.rank}"'),
            )
        )
    w.pools["hotspot"] = spots
    proposals = []
    seen = set()
    for p in w.db.execute(select(InsightProposal).order_by(InsightProposal.id)).scalars():
        if p.action.code in seen:
            continue
        seen.add(p.action.code)
        proposals.append(
            Rec(
                f"proposal {p.id} (action {p.action.code})",
                {"proposal_id": p.id, "version": p.version},
                {"tf_path": p.action.taskforce_unit.path},
                (f'data-id="{p.id}"', f'"action_code": "{p.action.code}"'),
                (f'data-id="{p.id}"', f'"action_code": "{p.action.code}"'),
            )
        )
    assert len(proposals) >= 2, [p.label for p in proposals]
    w.pools["proposal"] = proposals
