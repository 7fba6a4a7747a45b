"""Demo programme: the ten actions of 2026 with tasks across departments and streets/towns, a year
of history (some accepted, some behind plan, problems open and closed), then supervision scans.

The programme, its checklists and actions go through the service functions (their rules checked);
people, tasks and their history — reports, acceptance checks, problems with evidence — are computed
here as they would have happened on their dates and loaded in bulk (``bulk.py``), so the seed takes
about a second. The supervision scans that follow are the real ones.
"""

from __future__ import annotations

import math
import random
import struct
import zlib
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from shapely.geometry import LineString, Point, box, mapping, shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.audit import Actor
from cityloop.core.clock import display_zone, now
from cityloop.org.models import Person, Unit, UnitKind
from cityloop.programme import bulk, evaluation, plans, service, supervision, workflow
from cityloop.programme.demo_data import ACTIONS, CHECKLISTS, GIVEN, LEADERS, PROGRAMME, SURNAMES, Template
from cityloop.programme.models import Event, Notice, ProblemState, Programme, TaskState
from cityloop.programme.plans import MilestoneInput, check_place

ACTOR = Actor("seed-demo")
FAVOURED = ("500107001000", "500107002000")  # the demo street accounts' areas get tasks in most actions
OFFICE = "总专班督导组"


def _png(r: int, g: int, b: int) -> bytes:
    """A 2×2 PNG of one colour: stand-in for a site photo."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes([r, g, b]) * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _moment(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=display_zone()).astimezone(UTC)


class Seeder:
    """Plans the demo's tasks and computes each one's history on the dates it would have happened."""

    def __init__(self, session: Session, programme: Programme) -> None:
        self.s = session
        self.programme = programme
        self.rng = random.Random(2026)
        self.today = min(workflow.today(), date(2026, 12, 31))
        self.units = {u.code: u for u in session.execute(select(Unit)).scalars()}
        self.areas = sorted(
            (u for u in self.units.values() if u.kind in (UnitKind.street, UnitKind.town)),
            key=lambda u: u.sort_order,
        )
        self.photo = bulk.blob(session, _png(34, 139, 94))
        self.problems = 0

    def person_name(self) -> str:
        return self.rng.choice(SURNAMES) + "".join(self.rng.sample(GIVEN, self.rng.choice((1, 2))))

    def evidence(self, name: str, at: datetime, by: str) -> dict[str, Any]:
        return {
            "filename": name,
            "content_type": "image/png",
            "size": 75,
            "sha256": self.photo,
            "uploaded_at": at,
            "uploader_name": by,
        }

    # --- places -------------------------------------------------------------------------------------

    def place_in(self, unit: Unit, kind: str) -> dict[str, Any]:
        area = shape(unit.geometry) if unit.geometry else shape(self.units["500107"].geometry)
        minx, miny, maxx, maxy = area.bounds
        for _ in range(500):
            p = Point(self.rng.uniform(minx, maxx), self.rng.uniform(miny, maxy))
            if not area.contains(p):
                continue
            if kind == "Point":
                return dict(mapping(p))
            d = self.rng.uniform(0.002, 0.004)
            if kind == "Polygon":
                geom = box(p.x - d, p.y - d * 0.7, p.x + d, p.y + d * 0.7)
            else:
                a = self.rng.uniform(0, 3.14)
                geom = LineString(
                    [(p.x, p.y), (p.x + d * math.cos(a), p.y + d), (p.x + 2 * d, p.y + d * 0.4)]
                )
            if area.contains(geom):
                return dict(mapping(geom))
        return dict(mapping(area.representative_point()))

    # --- the plan ----------------------------------------------------------------------------------

    def profile(self) -> str:
        r = self.rng.random()
        for limit, name in (
            (0.15, "accepted"),
            (0.2, "submitted"),
            (0.25, "returned"),
            (0.55, "on_track"),
            (0.82, "behind"),
        ):
            if r < limit:
                return name
        return "lagging"

    def schedule(self, profile: str) -> tuple[date, date, list[MilestoneInput]]:
        start = date(2026, 1, 5) + timedelta(days=self.rng.randint(0, 80))
        if profile in ("accepted", "submitted", "returned"):
            due = min(
                date(2026, 6, 30) + timedelta(days=self.rng.randint(0, 110)), self.today - timedelta(days=20)
            )
        else:
            due = date(2026, 12, 10) + timedelta(days=self.rng.randint(0, 21))
        n = self.rng.choice((3, 4, 4, 5))
        names = ["摸排建档、方案制定", "启动实施", "集中攻坚", "全面推进", "完成并申请验收"]
        chosen = [*names[: n - 1], names[-1]]
        out = []
        for k in range(1, n + 1):
            day = due if k == n else start + timedelta(days=round((due - start).days * k / n))
            pct = 100.0 if k == n else float(round(100 * k / n / 5) * 5)
            out.append(MilestoneInput(chosen[k - 1], day, pct, f"{chosen[k - 1]}佐证材料"))
        plans.check_milestones(out, starts_on=start, due_on=due)
        return start, due, out

    # --- history -------------------------------------------------------------------------------------

    def value_at(self, row: dict[str, Any], pct: float, *, reached: bool = True) -> float:
        """The indicator value at ``pct`` of the way: rounded towards the target when a milestone
        must count as reached, towards the baseline for a report on the way."""
        base, target = row["baseline"], row["target_value"]
        if pct >= 100:
            return float(target)
        raw = base + (target - base) * pct / 100
        step = 0.1 if row["indicator_unit"] in ("%", "km") else 1.0
        up = (target > base) == reached
        value = (math.ceil(raw / step - 1e-9) if up else math.floor(raw / step + 1e-9)) * step
        low, high = sorted((base, target))
        return round(min(max(value, low), high), 1)

    def report(
        self, row: dict[str, Any], pct: float, day: date, seq: int | None, text: str, proof: bool
    ) -> None:
        value = max(
            self.value_at(row, pct, reached=seq is not None),
            row["current_value"],
            key=lambda v: abs(v - row["baseline"]),
        )
        at = _moment(day)
        rep: dict[str, Any] = {
            "reported_at": at,
            "reporter_name": row["_person"],
            "value": value,
            "progress_pct": workflow.progress_of_values(row["baseline"], row["target_value"], value),
            "narrative": text,
        }
        if seq is not None:
            rep["milestone_seq"] = seq
        if proof:
            rep["evidence"] = [self.evidence(f"现场照片-{row['code']}-{seq or 0}.png", at, row["_person"])]
        row["reports"].append(rep)
        row["current_value"], row["progress_pct"], row["last_report_at"] = value, rep["progress_pct"], at

    def history(
        self, row: dict[str, Any], profile: str, checklist_items: list[tuple[str, dict[str, str]]]
    ) -> None:
        ms = row["milestones"]
        due = (
            ms
            if profile in ("accepted", "submitted", "returned")
            else [m for m in ms if m["due_on"] <= self.today]
        )
        for i, m in enumerate(due):
            if profile == "behind" and i == len(due) - 1:
                before = due[i - 1]["planned_pct"] if i else 0
                pct = before + (m["planned_pct"] - before) * 0.4
                self.report(row, pct, m["due_on"] - timedelta(days=9), None, f"推进中,完成{pct:.0f}%", False)
                break
            late = self.rng.randint(3, 15) if profile == "lagging" else -self.rng.randint(0, 6)
            day = min(max(m["due_on"] + timedelta(days=late), row["starts_on"]), self.today)
            m["done_on"] = day
            self.report(
                row,
                m["planned_pct"],
                day,
                m["seq"],
                f"{m['name']}已完成",
                i == len(due) - 1 or self.rng.random() < 0.3,
            )
        if profile == "on_track" and len(due) < len(ms):
            nxt, last = ms[len(due)], (due[-1] if due else None)
            since = last["due_on"] if last else row["starts_on"]
            share = (self.today - since).days / max(1, (nxt["due_on"] - since).days)
            base_pct = last["planned_pct"] if last else 0
            pct = base_pct + (nxt["planned_pct"] - base_pct) * min(0.95, max(0.1, share))
            self.report(
                row,
                pct,
                self.today - timedelta(days=self.rng.randint(1, 6)),
                None,
                f"按计划推进,完成{pct:.0f}%",
                False,
            )
        row["state"] = TaskState.in_progress if row["reports"] else TaskState.planned
        if profile in ("accepted", "submitted", "returned"):
            row["state"] = TaskState.submitted
        if profile in ("accepted", "returned"):
            self.check(row, passed=profile == "accepted", items=checklist_items)

    def check(self, row: dict[str, Any], *, passed: bool, items: list[tuple[str, dict[str, str]]]) -> None:
        at = _moment(row["due_on"] + timedelta(days=self.rng.randint(3, 12)), 15)
        results = []
        for k, (code, item) in enumerate(items):
            bad = not passed and k == len(items) - 1
            result = {"result": "fail", "note": "资料不全"} if bad else {"result": "ok", "note": None}
            results.append({"checklist": code, "item": item["code"], "text": item["text"], **result})
        row["acceptances"].append(
            {
                "checked_at": at,
                "checker_name": OFFICE,
                "passed": passed,
                "results": results,
                "comment": None if passed else "过程资料不全,退回补正",
                "evidence": [self.evidence(f"验收照片-{row['code']}.png", at, OFFICE)],
            }
        )
        if passed:
            row.update(state=TaskState.accepted, status="done", status_reason="accepted", status_at=at)
        else:
            row.update(state=TaskState.returned, returned_count=1)
            self.problem(row, "验收发现:过程资料不全", source="inspection", fate="open", raised=at.date())

    def problem(
        self, row: dict[str, Any], title: str, *, source: str, fate: str, raised: date | None = None
    ) -> None:
        raised = raised or self.today - timedelta(days=self.rng.randint(10, 60))
        self.problems += 1
        item: dict[str, Any] = {
            "programme_id": row["programme_id"],
            "action_id": row["action_id"],
            "number": f"demo-{self.problems}",
            "source": source,
            "title": title,
            "responsible_unit_id": row["responsible_unit_id"],
            "deadline": raised + timedelta(days=self.rng.choice((15, 20, 30))),
            "state": ProblemState.open,
            "raised_at": _moment(raised, 9),
            "raiser_name": OFFICE,
            "evidence": [],
        }
        if fate in ("rectified", "closed"):
            at = _moment(min(raised + timedelta(days=8), self.today), 16)
            item.update(state=ProblemState.rectified, rectification="已按要求整改到位", rectified_at=at)
            item["evidence"].append(self.evidence(f"整改照片-{row['code']}.png", at, row["_person"]))
        if fate == "closed":
            at = _moment(min(raised + timedelta(days=12), self.today), 17)
            item.update(state=ProblemState.closed, closed_at=at, approver_name=OFFICE)
        row["problems"].append(item)


def seed(session: Session) -> bool:
    """Create the demo programme once; False (nothing changed) when it is already there."""
    code, name, name_en, year = PROGRAMME
    if session.execute(select(Programme.id).where(Programme.code == code)).first():
        return False
    units = {u.code: u for u in session.execute(select(Unit)).scalars()}
    programme = service.create_programme(
        session, actor=ACTOR, code=code, name=name, name_en=name_en, year=year, owner=units["gtf"]
    )
    sd = Seeder(session, programme)
    checklists = {
        c: service.create_checklist(session, actor=ACTOR, code=c, name=n, source=src, items=items)
        for c, n, src, items in CHECKLISTS
    }
    plans = [_plan_tasks(sd, spec) for spec in ACTIONS]
    people = _people(sd, plans)
    rows: list[dict[str, Any]] = []
    for seq, (spec, plan) in enumerate(zip(ACTIONS, plans, strict=True)):
        action = service.create_action(
            session,
            actor=ACTOR,
            programme=programme,
            data=service.ActionInput(
                code=spec.code,
                name=spec.name,
                name_en=spec.name_en,
                lead_unit=units[spec.lead],
                taskforce_unit=units[spec.taskforce],
                lead_leader=people["leaders"][seq],
                visions=list(spec.visions),
                co_units=[units[c] for c in spec.co],
                local_units=sorted(
                    {u.id: u for _, u in plan if u.kind != UnitKind.department}.values(),
                    key=lambda u: u.sort_order,
                ),
                checklists=[checklists[c] for c in spec.checklists],
                seq=seq,
            ),
        )
        items = [(c, item) for c in spec.checklists for item in checklists[c].items]
        for n, (template, unit) in enumerate(plan, start=1):
            rows.append(
                _task_row(
                    sd, action, f"{spec.code}-{n:03d}", template, unit, people["contacts"][unit.id], items
                )
            )
    for row in rows:
        del row["_person"]
    bulk.tasks(session, actor=ACTOR, programme_id=programme.id, rows=rows)
    _number_problems(session, programme)
    supervision.scan(session, actor=ACTOR)
    _escalation_history(session)
    day = workflow.today()
    for month in (evaluation.previous_month(day), f"{day.year:04d}-{day.month:02d}"):
        evaluation.snapshot(session, programme=programme, month=month, today=day)
    return True


def _plan_tasks(sd: Seeder, spec: Any) -> list[tuple[Template, Unit]]:
    picks = sd.rng.sample(sd.areas, 6)
    for code in FAVOURED:
        if sd.rng.random() < 0.7 and all(u.code != code for u in picks):
            picks[sd.rng.randrange(len(picks))] = sd.units[code]
    plan = [(spec.local[i % len(spec.local)], unit) for i, unit in enumerate(picks)]
    depts = [spec.lead, *spec.co]
    plan += [(t, sd.units[depts[i % len(depts)]]) for i, t in enumerate(spec.dept)]
    return plan


def _people(sd: Seeder, plans: list[list[tuple[Template, Unit]]]) -> dict[str, Any]:
    """Lead leaders (with titles) and one named contact per responsible unit, in one insert."""
    units = {u.id: u for plan in plans for _, u in plan}
    leader_rows = [{"name": n, "title": t, "unit_id": sd.units["leaders"].id} for n, t in LEADERS]
    titles = {"department": "科长", "town": "副镇长"}
    contact_rows = [
        {"name": sd.person_name(), "title": titles.get(u.kind, "副主任"), "unit_id": u.id}
        for u in units.values()
    ]
    ids = bulk.people(sd.s, actor=ACTOR, rows=leader_rows + contact_rows)
    persons = {p.id: p for p in sd.s.execute(select(Person).where(Person.id.in_(ids))).scalars()}
    leaders = [persons[i] for i in ids[: len(leader_rows)]]
    contacts = {
        row["unit_id"]: persons[i] for row, i in zip(contact_rows, ids[len(leader_rows) :], strict=True)
    }
    return {"leaders": leaders, "contacts": contacts}


def _task_row(
    sd: Seeder, action: Any, code: str, template: Template, unit: Unit, person: Person, items: list[Any]
) -> dict[str, Any]:
    profile = sd.profile()
    start, due, milestones = sd.schedule(profile)
    low, high = template.target
    target = round(sd.rng.uniform(low, high), 1 if template.unit in ("%", "km") else 0)
    area = unit if unit.kind != UnitKind.department else sd.rng.choice(sd.areas)
    place, kind, lon, lat = check_place(sd.place_in(area, template.place))
    row: dict[str, Any] = {
        "programme_id": action.programme_id,
        "action_id": action.id,
        "code": code,
        "name": template.name.format(area=unit.name),
        "target": f"{template.indicator}由{template.baseline:g}{template.unit}达到{target:g}{template.unit}",
        "indicator": template.indicator,
        "indicator_unit": template.unit,
        "baseline": template.baseline,
        "target_value": float(target),
        "current_value": template.baseline,
        "progress_pct": 0.0,
        "responsible_unit_id": unit.id,
        "responsible_person_id": person.id,
        "place": place,
        "place_kind": kind,
        "lon": lon,
        "lat": lat,
        "site_plan": template.site_plan,
        "starts_on": start,
        "due_on": due,
        "status": "green",
        "returned_count": 0,
        "created_at": _moment(start - timedelta(days=sd.rng.randint(5, 20)), 9),
        "milestones": [
            {
                "seq": i,
                "name": m.name,
                "due_on": m.due_on,
                "deliverable": m.deliverable,
                "planned_pct": m.planned_pct,
                "done_on": None,
            }
            for i, m in enumerate(milestones, start=1)
        ],
        "reports": [],
        "acceptances": [],
        "problems": [],
        "_person": person.name,
    }
    sd.history(row, profile, items)
    if profile == "behind" and sd.rng.random() < 0.6:
        fate = sd.rng.choice(("open", "rectified", "closed"))
        sd.problem(row, f"{row['name']}进度滞后,里程碑未按期完成", source="supervision", fate=fate)
    elif profile == "on_track" and sd.rng.random() < 0.2:
        sd.problem(
            row,
            "现场检查发现安全警示标识缺失",
            source="inspection",
            fate=sd.rng.choice(("closed", "closed", "open")),
        )
    return row


def _number_problems(session: Session, programme: Programme) -> None:
    """Give bulk-loaded problems the same numbers the workflow gives (WT<year>-<id>)."""
    from sqlalchemy import Table, bindparam, update

    from cityloop.programme.models import Problem

    PROBLEMS = cast(Table, Problem.__table__)
    ids = session.execute(select(Problem.id).where(Problem.number.like("demo-%"))).scalars().all()
    if ids:
        stmt = update(PROBLEMS).where(PROBLEMS.c.id == bindparam("pid")).values(number=bindparam("num"))
        session.execute(stmt, [{"pid": i, "num": f"WT{programme.year}-{i:05d}"} for i in ids])


def _escalation_history(session: Session) -> None:
    """Make some notices late so the next scans escalate them (to the lead leader, then the
    task-force office); record replies to a few others as the responsible units' answers."""
    notices = list(session.execute(select(Notice).order_by(Notice.id)).scalars())
    current = now()
    for n in notices[:8]:
        n.issued_at, n.reply_due_at = current - timedelta(days=9), current - timedelta(days=6)
    for n in notices[8:12]:
        n.state, n.reply, n.replied_at = (
            "replied",
            "已制定赶工计划,周内补齐进度",
            current - timedelta(hours=5),
        )
        n.replier_name = n.task.responsible_person.name
        detail = {"number": n.number, "by": n.replier_name, "late": False}
        session.add(
            Event(
                task_id=n.task_id,
                notice_id=n.id,
                kind="reply",
                key=f"notice:{n.id}:reply",
                at=n.replied_at,
                level=n.level,
                to_unit_id=n.to_unit_id,
                detail=detail,
            )
        )
    session.flush()
    made_late, replied = [n.id for n in notices[:8]], [n.id for n in notices[8:12]]
    audit.record(
        session,
        actor=ACTOR,
        action="demo_history",
        entity_type="notice",
        entity_id="demo",
        after={"replied": replied, "made_late": made_late},
    )
    supervision.scan(session, actor=ACTOR)
    for n in session.execute(select(Notice).where(Notice.level == 1).order_by(Notice.id).limit(3)).scalars():
        n.reply_due_at = now() - timedelta(hours=1)
    session.flush()
    supervision.scan(session, actor=ACTOR)
    # Two notices the task-force office itself is still waiting on: late at the top level.
    for n in session.execute(select(Notice).where(Notice.level == 2).order_by(Notice.id).limit(2)).scalars():
        n.reply_due_at = now() - timedelta(hours=20)
    session.flush()
