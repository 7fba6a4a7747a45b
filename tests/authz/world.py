"""The records the matrix calls routes with: real rows of the seeded demo district, plus the few the demo
lacks (cases of two citizens dispatched to five different units, files, warnings, hotspots and their
proposals, a site plan), each with the facts its scope is decided on and the text that identifies it.

A pool per kind of record (``world.pools["case"]`` …); for every caller the matrix takes the records the
scope rule says it sees and the ones it says it does not, so each pool holds records of several units:
杨家坪 (the demo ``street``, ``inspector`` and ``enforcement`` accounts), 黄桷坪 (``street2``), a
department, utilities, task forces.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.authz.scopes import ANON, Account

PASSWORD = "cityloop-demo"
YJP, HJP = "500107001000", "500107002000"  # 杨家坪街道, 黄桷坪街道


@dataclass
class Rec:
    """One record: the path/query parameters naming it, the facts its scope reads, its identifying text."""

    label: str
    params: dict[str, Any]
    facts: dict[str, Any] = field(default_factory=dict)
    hide: tuple[str, ...] = ()  # must not appear in any answer to a caller out of scope
    show: tuple[str, ...] = ()  # an in-scope answer shows one of these


# The callers: every demo account, three extra accounts for rules the demo accounts cannot show, nobody.
EXTRA_ACCOUNTS = [
    ("citizen2", "citizen", "500107", "another citizen: whose cases the demo citizen must not see"),
    ("mzj", "department", "dept-mzj", "民政局: leads the 15-minute-circle action (district-wide coverage)"),
    ("tczl", "department", "tf-tczl", "filed under the parking task force (停车综合治理): its proposals"),
]
DEMO_ACCOUNTS = [
    "admin",
    "supervisor",
    "leader",
    "department",
    "street",
    "street2",
    "dispatcher",
    "inspector",
    "enforcement",
    "operator",
    "citizen",
]


def png(marker: str) -> bytes:
    """A valid 1×1 PNG carrying ``marker`` in a text chunk: a file whose bytes identify it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\xff\xff")
    text = b"Comment\x00" + marker.encode()
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"tEXt", text)
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


class World:
    def __init__(self, factory: Any, api: Any) -> None:
        self.factory = factory  # sessions on the connection the app shares; one per use, closed after
        self.db: Session = factory()  # the building's own session, closed once built
        self.api = api  # a TestClient without cookies
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, dict[str, str]] = {}
        self.pools: dict[str, list[Rec]] = {}
        self.open311_key = ""
        # Set by the fixture once built: the connection every session shares and a signed-in browser per
        # account.
        self.connection: Any = None
        self.browsers: dict[str, Any] = {}

    # --- helpers -----------------------------------------------------------------------------------

    def unit(self, code: str) -> Any:
        from cityloop.org.models import Unit

        return self.db.execute(select(Unit).where(Unit.code == code)).scalar_one()

    def path(self, unit_id: int | None) -> str | None:
        from cityloop.org.models import Unit

        return self.db.get(Unit, unit_id).path if unit_id is not None else None

    def point(self, unit_code: str, shift: float = 0.0) -> tuple[float, float]:
        from tests.cases.helpers import point_in

        with self.factory() as s:  # a session of its own: none may stay open across a test's savepoint
            return point_in(s, unit_code, shift)

    def post(self, who: str, url: str, **kw: Any) -> Any:
        r = self.api.post(url, headers=self.tokens[who], **kw)
        assert r.status_code < 300, (
            f"setting up the matrix: POST {url} as {who}: {r.status_code} {r.text[:300]}"
        )
        return r.json() if r.content else None

    # --- building ----------------------------------------------------------------------------------

    def build(self) -> World:
        from tests.authz import pools

        for step in (
            self._accounts,
            self._org,
            self._cases,
            lambda: pools.programme(self),
            lambda: pools.twin(self),
            lambda: pools.livability(self),
            lambda: pools.resources(self),
            lambda: pools.insight(self),
            self._singles,
        ):
            step()
        self.db.commit()
        self.db.close()
        return self

    def _accounts(self) -> None:
        from cityloop.core.audit import Actor
        from cityloop.org import service as org

        for username, role, code, _ in EXTRA_ACCOUNTS:
            unit = self.unit(code)
            person = org.create_person(self.db, actor=Actor("authz"), name=f"{username} 责任人", unit=unit)
            org.create_user(
                self.db,
                actor=Actor("authz"),
                username=username,
                password=PASSWORD,
                role=role,
                unit=unit,
                person=person,
            )
        notes = {u: n for u, _, _, n in EXTRA_ACCOUNTS}
        shq = self._shq_paths()
        for username in DEMO_ACCOUNTS + [u for u, *_ in EXTRA_ACCOUNTS]:
            user = org.get_user(self.db, username=username)
            path = user.unit.path
            self.accounts[username] = Account(
                username,
                user.role,
                user.id,
                path,
                user.unit.code,
                notes.get(username, ""),
                leads_15min=any(p.startswith(path) for p in shq),
            )
            token = org.create_token(self.db, actor=Actor("authz"), user=user, name="authz matrix")
            self.tokens[username] = {"Authorization": f"Bearer {token}"}
        self.accounts[ANON] = Account(ANON, ANON)
        self.tokens[ANON] = {}
        self.db.commit()

    def _shq_paths(self) -> list[str]:
        """The lead unit and task force of the 15-minute-circle action (its task force is ``tf-shq``)."""
        from cityloop.programme.models import Action

        tf = self.unit("tf-shq")
        action = self.db.execute(select(Action).where(Action.taskforce_unit_id == tf.id)).scalars().first()
        assert action is not None
        return [u.path for u in (action.lead_unit, action.taskforce_unit) if u is not None]

    def _org(self) -> None:
        from cityloop.org.models import Person, User

        units = []
        for code in (YJP, f"{YJP}-C1-G1", "dept-cgj", "util-water", f"enf-{YJP}", HJP, "dept-mzj", "tf-tczl"):
            u = self.unit(code)
            # The English name where there is one: the Chinese one also names the squadrons of a street.
            text = u.name_en or u.name
            units.append(
                Rec(u.name, {"ref": u.code, "code": u.code}, {"unit_path": u.path}, (text,), (text, u.name))
            )
        self.pools["unit"] = units
        users = []
        for username in ("street", "street2", "department", "operator", "admin"):
            user = self.db.execute(select(User).where(User.username == username)).scalar_one()
            users.append(
                Rec(
                    username,
                    {"username": username},
                    {"unit_path": user.unit.path, "username": username},
                    (user.display_name,),
                    (user.display_name,),
                )
            )
        self.pools["user"] = users
        people = []
        for code in (YJP, HJP, "dept-cgj"):
            p = (
                self.db.execute(
                    select(Person).where(Person.unit_id == self.unit(code).id).order_by(Person.id)
                )
                .scalars()
                .first()
            )
            people.append(
                Rec(p.name, {"person_id": p.id}, {"unit_path": self.unit(code).path}, (p.name,), (p.name,))
            )
        self.pools["person"] = people

    def _case(self, label: str, reporter: str, grid: str, unit: str, shift: float = 0.0) -> Rec:
        lon, lat = self.point(grid, shift)
        description = f"授权矩阵{label}：路边堆放生活垃圾"
        body: dict[str, Any] = {"category": "SJ0102", "description": description, "lon": lon, "lat": lat}
        personal: tuple[str, ...] = ()
        if reporter == "dispatcher":
            name, phone = f"矩阵{label}先生", f"1390000{label[-1]}{len(label):03d}"
            body |= {"reporter_name": name, "reporter_phone": phone, "source": "hotline_12345"}
            personal = (name, phone)
        case = self.post(reporter, "/api/v1/cases", json=body)
        case = self.post(
            "dispatcher", f"/api/v1/cases/{case['id']}/actions/register", json={"version": case["version"]}
        )
        case = self.post(
            "dispatcher",
            f"/api/v1/cases/{case['id']}/actions/dispatch",
            json={"version": case["version"], "unit": unit},
        )
        marker = f"AUTHZ-{label}-{case['id']}"
        attachment = self.post(
            "dispatcher",
            f"/api/v1/cases/{case['id']}/attachments",
            files={"file": (f"{label}.png", png(marker), "image/png")},
            data={"purpose": "report"},
        )
        facts = {
            "reporter_id": self.accounts[reporter].user_id,
            "unit_path": self.path(case["unit"]["id"]),
            "grid_path": self.path(case["grid"]["id"]),
            "street_path": self.path(case["street"]["id"]),
            "open": True,
            "private": (description, *personal),
            "personal": personal,
        }
        assert case["unit"]["code"] == unit, case["unit"]
        return Rec(
            f"case {label} ({case['tracking_no']}, dispatched to {unit}, reported by {reporter})",
            {
                "case_id": case["id"],
                "tracking_no": case["tracking_no"],
                "attachment_id": attachment["id"],
                "version": case["version"],
                "bbox": f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}",
            },
            facts,
            (description, case["tracking_no"], marker),
            (description, case["tracking_no"], marker),
        )

    def _cases(self) -> None:
        from cityloop.cases.models import Case, Rating

        self.pools["case"] = [
            self._case("A", "citizen", f"{YJP}-C1-G1", YJP),
            self._case("C", "dispatcher", f"{YJP}-C2-G1", "dept-cgj"),
            self._case("D", "dispatcher", f"{YJP}-C2-G2", f"enf-{YJP}"),
            self._case("E", "dispatcher", f"{HJP}-C2-G1", "util-water"),
            self._case("B", "citizen2", f"{HJP}-C1-G1", HJP),
        ]
        closed = []
        rated = select(Rating.case_id)
        citizen = self.accounts["citizen"].user_id
        for mine in (True, False):
            who = Case.reporter_user_id == citizen if mine else Case.reporter_user_id.is_(None)
            c = (
                self.db.execute(
                    select(Case)
                    .where(Case.state == "closed", who, Case.id.not_in(rated), Case.unit_id.is_not(None))
                    .order_by(Case.id)
                    .limit(1)
                )
                .unique()
                .scalar_one()
            )
            closed.append(
                Rec(
                    f"closed case {c.tracking_no} ({'the citizen' if mine else 'the hotline'})",
                    {"case_id": c.id, "tracking_no": c.tracking_no, "version": c.version},
                    {
                        "reporter_id": c.reporter_user_id,
                        "unit_path": self.path(c.unit_id),
                        "grid_path": self.path(c.grid_id),
                        "street_path": self.path(c.street_id),
                        "open": False,
                    },
                )
            )
        self.pools["closed_case"] = closed

    def _singles(self) -> None:
        from cityloop.cases import open311_io
        from cityloop.cases.models import Category, RoutingRule
        from cityloop.core.audit import Actor
        from cityloop.livability.models import FacilityType
        from cityloop.programme.models import Programme

        prog = self.db.execute(select(Programme).order_by(Programme.id)).scalars().first()
        self.pools["programme"] = [Rec(f"programme {prog.code}", {"code": prog.code})]
        cat = self.db.execute(select(Category).where(Category.code == "SJ0102")).scalar_one()
        self.pools["category"] = [Rec("category SJ0102", {"code": cat.code, "version": cat.version})]
        rule = self.db.execute(select(RoutingRule).order_by(RoutingRule.id)).scalars().first()
        self.pools["rule"] = [Rec(f"routing rule {rule.id}", {"rule_id": rule.id, "version": rule.version})]
        ftype = self.db.execute(select(FacilityType).order_by(FacilityType.id)).scalars().first()
        self.pools["facility_type"] = [Rec(f"facility type {ftype.code}", {"code": ftype.code})]
        self.open311_key = open311_io.create_key(self.db, actor=Actor("authz"), name="authz-matrix")
        self.db.commit()
        lon, lat = self.point(f"{YJP}-C1-G1")
        r = self.api.post(
            "/open311/v2/requests.json",
            data={
                "api_key": self.open311_key,
                "service_code": "SJ0102",
                "lat": lat,
                "long": lon,
                "description": "授权矩阵开放接口",
            },
            headers={"Idempotency-Key": "authz-matrix-token"},
        )
        assert r.status_code == 200, r.text
        self.pools["open311_token"] = [Rec("Open311 token", {"name": "authz-matrix-token.json"})]
