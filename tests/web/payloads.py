"""Stored-script payloads planted in every free-text field a page or a map shows (issue 14).

Each field gets its own payload with its own number, so a failure names the field: the payload calls
``xss(n)`` (recorded by the browser test's init script), and some call ``alert(n)`` (a dialog). The
payloads try every way out of the context they land in: an HTML element (``<img onerror>``), a
double-quoted attribute (``"><svg onload>``), a script block (``</script><script>``), a single-quoted
attribute (``' onmouseover='``) and a link (``javascript:``).

``plant(base)`` writes them through the JSON API as the roles that may (a street account, an operator,
a citizen…); what only a worker job or an import writes is put in the database directly. It returns
the ids of what it made, for the test to open those pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.orm import Session

PASSWORD = "cityloop-demo"
YJP = "500107001000"  # 杨家坪街道 of the demo district, where the street account works
YJP_POINT = (106.512, 29.504)
HTML = {"Accept": "text/html"}


@dataclass
class Planted:
    """field name -> payload text; and the records to open."""

    texts: dict[str, str] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)

    def payload(self, name: str, limit: int = 200) -> str:
        """A payload for ``name`` that fits ``limit`` characters (the field's maximum length)."""
        n = len(self.texts) + 1
        full = (
            f'«{n}»<img src=x onerror=xss({n})>"><svg onload=xss({n})>'
            f"</script><script>xss({n})</script>' onmouseover='xss({n})' <a href=javascript:alert({n})>j</a>"
        )
        long = (
            f'«{n}»<img src=x onerror=xss({n})>"><svg onload=xss({n})></script><script>xss({n})</script>'
            "' x='"
        )
        mid = f"«{n}»<img src=x onerror=xss({n})>\"><svg onload=alert({n})>'"
        short = f"<svg onload=xss({n})>"
        text = next(p for p in (full, long, mid, short) if len(p) <= limit)
        self.texts[name] = text
        return text

    def number(self, name: str) -> int:
        return list(self.texts).index(name) + 1


def login(base: str, username: str) -> httpx.Client:
    """A signed-in browser-like client (cookie + CSRF header), as a person would use the site."""
    c = httpx.Client(base_url=base, timeout=120)
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text)
    assert token
    r = c.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf": token.group(1), "next": "/"}
    )
    assert r.status_code == 303, r.text
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/").text)
    assert token
    c.headers.update({"X-CSRF-Token": token.group(1), "Accept": "application/json"})
    return c


def ok(r: httpx.Response) -> Any:
    assert r.status_code < 300, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json() if r.content else None


def plant(base: str, db_url: str) -> Planted:
    p = Planted()
    admin, street, operator = login(base, "admin"), login(base, "street"), login(base, "operator")
    citizen, dispatcher, department = (
        login(base, "citizen"),
        login(base, "dispatcher"),
        login(base, "department"),
    )
    supervisor = login(base, "supervisor")
    lon, lat = YJP_POINT

    # --- organisation: a grid cell drawn on the district map, a user shown in timelines -----------------
    ring = [
        [lon - 0.004, lat - 0.003],
        [lon + 0.004, lat - 0.003],
        [lon + 0.004, lat + 0.003],
        [lon - 0.004, lat + 0.003],
        [lon - 0.004, lat - 0.003],
    ]
    ok(
        admin.post(
            "/api/v1/units",
            json={
                "code": "xss-grid",
                "name": p.payload("unit.name", 120),
                "kind": "grid",
                "parent": YJP,
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            },
        )
    )
    street2 = ok(admin.get("/api/v1/units/500107002000"))  # 黄桷坪街道: its name labels the district map
    ok(
        admin.patch(
            "/api/v1/units/500107002000",
            json={"version": street2["version"], "name": p.payload("unit.street_name", 120)},
        )
    )
    ok(
        admin.post(
            "/api/v1/users",
            json={
                "username": "xssuser",
                "password": PASSWORD,
                "role": "street",
                "unit": YJP,
                "display_name": p.payload("user.display_name", 120),
            },
        )
    )

    # --- resources: the known exploit (a street account's idle space, hovered by an admin) -------------
    idle = ok(
        street.post(
            "/api/v1/resources/idle-spaces",
            json={
                "name": p.payload("idle.name"),
                "lon": lon + 0.001,
                "lat": lat + 0.001,
                "area_m2": 120,
                "owner": p.payload("idle.owner"),
                "condition": "fair",
                "intended_use": p.payload("idle.intended_use"),
                "note": p.payload("idle.note"),
            },
        )
    )
    p.ids["idle"] = idle["id"]
    ok(
        admin.post(
            "/api/v1/resources/buildings",
            json={
                "code": "xss-b1",
                "name": p.payload("building.name"),
                "lon": lon,
                "lat": lat,
                "floor_area_m2": 900,
                "address": p.payload("building.address"),
                "operator": p.payload("building.operator"),
            },
        )
    )
    # A report for the period the ranking shows first, so that the building is ranked.
    period = re.findall(
        r"<option[^>]*>([^<]+)</option>", admin.get("/resources/buildings", headers=HTML).text
    )[0]
    system = ok(admin.get("/api/v1/resources/grading-system"))
    values = {i["code"]: i["target"] for i in system["indicators"]}
    ok(admin.put(f"/api/v1/resources/buildings/xss-b1/reports/{period}", json={"values": values}))

    # --- 15-minute circle: a facility and a residential area, then a run so the map shows them --------
    first_type = ok(street.get("/api/v1/livability/types"))[0]["code"]  # the type the map shows first
    ok(
        street.post(
            "/api/v1/livability/facilities",
            json={
                "type": first_type,
                "name": p.payload("facility.name"),
                "lon": lon + 0.002,
                "lat": lat,
                "address": p.payload("facility.address"),
            },
        )
    )
    ok(
        street.post(
            "/api/v1/livability/residential-areas",
            json={
                "name": p.payload("area.name"),
                "lon": lon - 0.002,
                "lat": lat,
                "population": 900,
                "elderly_population": 200,
            },
        )
    )
    ok(admin.post("/api/v1/livability/accessibility/runs", json={}))

    # --- digital twin: an operator's sensor on the demo water network ---------------------------------
    nets = ok(operator.get("/api/v1/twin/networks"))
    water = next(n for n in nets if n["kind"] == "water")
    p.ids["networks"] = [n["name"] for n in nets]
    geo = ok(operator.get(f"/api/v1/twin/networks/{water['name']}/geojson"))
    node = next(f for f in geo["features"] if f["properties"]["layer"] == "node")
    ok(
        operator.post(
            "/api/v1/twin/sensors",
            json={
                "code": "xss-s1",
                "kind": "pressure",
                "network": water["name"],
                "name": p.payload("sensor.name"),
                "asset": node["properties"]["ref"],
                "measure_unit": p.payload("sensor.measure_unit", 20),
            },
        )
    )
    _tag_elements(db_url, water["name"], p.payload("twin.facility"), p.payload("twin.link_ref", 120))

    # --- cases: a citizen's report with a photo, a hotline call taken by the dispatcher, notes --------
    category = ok(citizen.get("/api/v1/categories"))[0]
    case = ok(
        citizen.post(
            "/api/v1/cases",
            json={
                "category": category["code"],
                "description": p.payload("case.description"),
                "address": p.payload("case.address"),
                "lon": lon + 0.0015,
                "lat": lat - 0.001,
            },
        )
    )
    p.ids["case"] = case["id"]
    # (Case attachments keep only word characters of a file name: no payload survives there.)
    hotline = ok(
        dispatcher.post(
            "/api/v1/cases",
            json={
                "category": category["code"],
                "description": "热线",
                "lon": lon + 0.0005,
                "lat": lat - 0.0005,
                "source": "hotline_12345",
                "reporter_name": p.payload("case.reporter_name", 80),
                "source_ref": p.payload("case.source_ref", 120),
            },
        )
    )
    p.ids["hotline_case"] = hotline["id"]
    current = ok(dispatcher.get(f"/api/v1/cases/{case['id']}"))
    ok(
        dispatcher.post(
            f"/api/v1/cases/{case['id']}/actions/note",
            json={
                "version": current["version"],
                "note": p.payload("case.note"),
                "public_note": p.payload("case.public_note"),
            },
        )
    )
    ok(
        admin.patch(
            f"/api/v1/categories/{category['code']}",
            json={"version": category["version"], "name": p.payload("category.name", 120)},
        )
    )

    # --- the ten actions: a task with its place, milestones, a progress report, a problem -------------
    person = ok(
        admin.post(
            "/api/v1/people",
            json={
                "name": p.payload("person.name", 80),
                "unit": YJP,
                "title": p.payload("person.title", 120),
            },
        )
    )
    task = ok(
        department.post(
            "/api/v1/programme/tasks",
            json={
                "action": "CWZL",
                "name": p.payload("task.name"),
                "indicator": p.payload("task.indicator", 80),
                "indicator_unit": p.payload("task.indicator_unit", 20),
                "baseline": 0,
                "target_value": 10,
                "responsible_unit": YJP,
                "responsible_person": str(person["id"]),
                "starts_on": "2026-03-01",
                "due_on": "2026-12-31",
                "target": p.payload("task.target"),
                "milestones": [
                    {
                        "name": p.payload("milestone.name"),
                        "due_on": "2026-04-30",
                        "planned_pct": 50,
                        "deliverable": p.payload("milestone.deliverable"),
                    },
                    {"name": "完成", "due_on": "2026-12-31", "planned_pct": 100},
                ],
                "place": {"type": "Point", "coordinates": [lon + 0.003, lat + 0.002]},
                "site_plan": p.payload("task.site_plan"),
            },
        )
    )
    p.ids["task"] = task["id"]
    # Evidence keeps the file name after its last "/": a payload without one.
    evidence = ok(
        street.post(
            "/api/v1/programme/evidence",
            data={"task_id": str(task["id"])},
            files={"file": (p.payload("evidence.filename", 60) + ".png", PNG, "image/png")},
        )
    )
    p.texts["evidence.filename"] = evidence["filename"]  # as stored (the upload encodes '"' as %22)
    ok(
        street.post(
            f"/api/v1/programme/tasks/{task['id']}/reports",
            json={"value": 3, "narrative": p.payload("report.narrative"), "evidence": [evidence["id"]]},
        )
    )
    problem = ok(
        supervisor.post(
            "/api/v1/programme/problems",
            json={
                "task_id": task["id"],
                "title": p.payload("problem.title"),
                "deadline": "2026-12-31",
                "description": p.payload("problem.description"),
            },
        )
    )
    p.ids["problem"] = problem["id"]

    # --- case intelligence: a hotspot as the worker job writes it --------------------------------------
    _hotspot(db_url, p.payload("hotspot.place"), p.payload("hotspot.summary"), lon, lat)
    for c in (admin, street, operator, citizen, dispatcher, department, supervisor):
        c.close()
    return p


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478"
    "9c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


def _session(db_url: str) -> Session:
    import cityloop.all_models  # noqa: F401  (every mapper, for the foreign keys)
    from cityloop.core.db import new_session

    return new_session(db_url, write=True)


def _tag_elements(db_url: str, network: str, facility: str, ref: str) -> None:
    """A named facility on a network node (the demo tags pump stations and tanks so), and a pipe whose id
    in the model file is a payload (an imported file names its elements)."""
    from sqlalchemy import select

    from cityloop.twin.models import Element, Network

    with _session(db_url) as s:
        net = s.scalars(select(Network).where(Network.name == network)).one()
        node, link = (
            s.scalars(
                select(Element).where(Element.network_id == net.id, Element.category == kind).limit(1)
            ).one()
            for kind in ("node", "link")
        )
        node.props = {**node.props, "facility": {"name": facility, "kind": "tank"}}
        link.ref = ref
        s.commit()


def _hotspot(db_url: str, place: str, summary: str, lon: float, lat: float) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from cityloop.insight.models import InsightHotspot
    from cityloop.org.models import Unit

    now = datetime.now(UTC)
    with _session(db_url) as s:
        rank = (s.scalar(select(func.max(InsightHotspot.rank))) or 0) + 1
        street = s.scalars(select(Unit).where(Unit.code == YJP)).one()
        s.add(
            InsightHotspot(
                key="xss",
                rank=rank,
                heat=5.0,
                place=place,
                lon=lon,
                lat=lat,
                located_by="cases",
                street_id=street.id,
                summary=summary,
                reports=5,
                days=3,
                support=0,
                start=now - timedelta(days=3),
                end=now,
                members=[],
                refreshed_at=now,
            )
        )
        s.commit()
