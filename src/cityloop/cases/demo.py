"""Demo data for the case loop: a CJ/T 214 category set with handling defaults, two routing rules,
and a realistic month of cases in the demo district.

Category codes and names are the standard's (CJ/T 214-2007, the classic model behind GB/T 30428.2);
the handlers, deadlines and duplicate radii are typical values seen in Chinese cities (DOMAIN-STANDARDS.md)
that a district edits. The month is generated: channels, categories, places and outcomes are drawn at
random with a fixed seed, timed by each category's deadlines, so the queue, the overdue list and the
indicators all have something to show.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, cast

from shapely.geometry import Point, shape
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from cityloop.cases import categories, deadlines, importer, rules
from cityloop.cases.models import CaseEvent, Category
from cityloop.core.audit import Actor
from cityloop.core.clock import now
from cityloop.org.models import Unit, UnitKind, User

ACTOR = Actor("seed-demo")
FAST = {"normal": {"register_minutes": 30, "dispatch_minutes": 30}}

# (kind, major code, major name, minor code, name, handler, handler unit, normal handle hours, radius m)
LEAVES: list[tuple[str, str, str, str, str, str, str | None, float, int]] = [
    ("部件", "01", "公用设施类", "0101", "上水井盖", "department", "util-water", 6, 30),
    ("部件", "01", "公用设施类", "0102", "污水井盖", "department", "util-drain", 6, 30),
    ("部件", "01", "公用设施类", "0103", "雨水井盖", "department", "util-drain", 6, 30),
    ("部件", "01", "公用设施类", "0104", "雨水箅子", "department", "util-drain", 24, 30),
    ("部件", "01", "公用设施类", "0111", "燃气井盖", "department", "util-gas", 6, 30),
    ("部件", "01", "公用设施类", "0113", "消防设施", "department", "dept-yjj", 24, 50),
    ("部件", "01", "公用设施类", "0118", "路灯", "department", "dept-cgj", 48, 50),
    ("部件", "01", "公用设施类", "0126", "健身设施", "street", None, 72, 50),
    ("部件", "02", "道路交通类", "0203", "公交站亭", "department", "dept-jtj", 72, 50),
    ("部件", "02", "道路交通类", "0209", "交通标志牌", "department", "dept-jtj", 72, 50),
    ("部件", "02", "道路交通类", "0210", "交通信号灯", "department", "dept-gafj", 4, 50),
    ("部件", "02", "道路交通类", "0211", "交通护栏", "department", "dept-jtj", 48, 50),
    ("部件", "03", "市容环境类", "0301", "公共厕所", "department", "dept-cgj", 24, 50),
    ("部件", "03", "市容环境类", "0305", "垃圾箱", "street", None, 24, 30),
    ("部件", "03", "市容环境类", "0307", "广告牌匾", "enforcement", None, 72, 50),
    ("部件", "04", "园林绿化类", "0402", "行道树", "department", "dept-cgj", 72, 50),
    ("部件", "04", "园林绿化类", "0405", "绿地", "department", "dept-cgj", 72, 80),
    ("部件", "06", "其他设施类", "0602", "工地", "department", "dept-zjw", 72, 100),
    ("事件", "01", "市容环境", "0101", "私搭乱建", "enforcement", None, 72, 50),
    ("事件", "01", "市容环境", "0102", "暴露垃圾", "street", None, 4, 50),
    ("事件", "01", "市容环境", "0103", "积存垃圾渣土", "street", None, 24, 50),
    ("事件", "01", "市容环境", "0104", "道路不洁", "street", None, 4, 80),
    ("事件", "01", "市容环境", "0107", "废弃车辆", "enforcement", None, 72, 30),
    ("事件", "01", "市容环境", "0110", "道路破损", "department", "dept-cgj", 48, 50),
    ("事件", "01", "市容环境", "0116", "油烟污染", "department", "dept-sthjj", 72, 50),
    ("事件", "02", "宣传广告", "0201", "非法小广告", "street", None, 24, 50),
    ("事件", "02", "宣传广告", "0202", "违章张贴悬挂广告牌匾", "enforcement", None, 72, 50),
    ("事件", "03", "施工管理", "0301", "施工扰民", "department", "dept-zjw", 24, 100),
    ("事件", "03", "施工管理", "0302", "工地扬尘", "department", "dept-zjw", 24, 100),
    ("事件", "03", "施工管理", "0304", "施工占道", "enforcement", None, 24, 80),
    ("事件", "04", "突发事件", "0401", "路面塌陷", "department", "dept-cgj", 4, 80),
    ("事件", "04", "突发事件", "0402", "自来水管破裂", "department", "util-water", 4, 150),
    ("事件", "04", "突发事件", "0403", "燃气管道破裂", "department", "util-gas", 2, 150),
    ("事件", "04", "突发事件", "0404", "下水道堵塞或破损", "department", "util-drain", 8, 80),
    ("事件", "04", "突发事件", "0406", "道路积水", "department", "util-drain", 4, 150),
    ("事件", "05", "街面秩序", "0501", "无照经营游商", "enforcement", None, 8, 80),
    ("事件", "05", "街面秩序", "0504", "店外经营", "enforcement", None, 24, 50),
    ("事件", "05", "街面秩序", "0505", "机动车乱停放", "enforcement", None, 4, 50),
    ("事件", "05", "街面秩序", "0506", "非机动车乱停放", "street", None, 8, 50),
    ("事件", "05", "街面秩序", "0508", "商业噪音", "enforcement", None, 8, 80),
    ("事件", "05", "街面秩序", "0510", "露天烧烤", "enforcement", None, 4, 80),
    ("事件", "05", "街面秩序", "0513", "空调室外机低挂", "manual", None, 72, 30),
]
EMERGENCY = {"0401", "0402", "0403", "0406"}

SOURCE_WEIGHTS = {
    "hotline_12345": 30,
    "inspector": 30,
    "app": 12,
    "web": 6,
    "enforcement": 12,
    "sensor": 5,
    "video": 5,
}
DESCRIPTIONS = {
    "上水井盖": "人行道上水井盖松动，踩上去会响",
    "污水井盖": "污水井盖破损缺角，有行人绊倒风险",
    "雨水井盖": "雨水井盖缺失，已有人摆放石头提醒",
    "雨水箅子": "雨水箅子被垃圾堵住，下雨积水",
    "燃气井盖": "燃气井盖移位，周边有异味",
    "消防设施": "小区门口消火栓漏水",
    "路灯": "路灯连续几晚不亮",
    "健身设施": "社区健身器材螺丝脱落",
    "公交站亭": "公交站亭玻璃破碎",
    "交通标志牌": "交通标志牌被撞歪",
    "交通信号灯": "路口信号灯故障一直闪黄灯",
    "交通护栏": "中央护栏倒伏",
    "公共厕所": "公厕无人保洁、异味大",
    "垃圾箱": "垃圾箱满溢无人清运",
    "广告牌匾": "店招松动有坠落风险",
    "行道树": "行道树枯枝悬挂在人行道上方",
    "绿地": "绿地被踩踏成路",
    "工地": "工地围挡倒塌",
    "私搭乱建": "楼顶新搭建彩钢棚",
    "暴露垃圾": "路边堆放生活垃圾",
    "积存垃圾渣土": "空地堆积建筑渣土",
    "道路不洁": "路面油污大面积",
    "废弃车辆": "僵尸车长期占用车位",
    "道路破损": "路面坑洼，电瓶车易摔",
    "油烟污染": "餐馆油烟直排居民楼",
    "非法小广告": "单元门口贴满小广告",
    "违章张贴悬挂广告牌匾": "沿街悬挂横幅广告",
    "施工扰民": "夜间施工噪音扰民",
    "工地扬尘": "工地未覆盖扬尘大",
    "施工占道": "施工材料占用人行道",
    "路面塌陷": "路面出现塌陷坑",
    "自来水管破裂": "自来水管爆裂路面冒水",
    "燃气管道破裂": "闻到燃气味疑似泄漏",
    "下水道堵塞或破损": "下水道堵塞污水外溢",
    "道路积水": "下穿道积水车辆无法通行",
    "无照经营游商": "流动摊贩占道经营",
    "店外经营": "商铺占用人行道摆摊",
    "机动车乱停放": "机动车停在人行道上",
    "非机动车乱停放": "共享单车堆满路口",
    "商业噪音": "商铺音响外放声音很大",
    "露天烧烤": "夜宵摊露天烧烤油烟大",
    "空调室外机低挂": "空调外机过低滴水",
}
STREETS_NEAR = ("杨家坪", "黄桷坪", "谢家湾", "石坪桥", "渝州路", "石桥铺", "九龙", "二郎", "华岩", "中梁山")


def seed_categories(session: Session) -> int:
    if session.execute(select(Category.id).limit(1)).first():
        return 0
    for order, (kind, mcode, mname, code, name, handler, unit, hours, radius) in enumerate(LEAVES):
        normal = {**FAST["normal"], "handle_hours": hours, "verify_hours": 24}
        urgent = {"handle_hours": max(1.0, hours / 4), "verify_hours": 4}
        categories.create_category(
            session,
            actor=ACTOR,
            kind=kind,
            major_code=mcode,
            major_name=mname,
            minor_code=code,
            name=name,
            handler=handler,
            handler_unit=unit,
            deadlines={"normal": normal, "urgent": urgent},
            working_hours=code not in EMERGENCY or kind == "部件",
            duplicate_radius_m=radius,
            duplicate_window_hours=72,
            sort_order=order,
            source="CJ/T 214-2007",
        )
    return len(LEAVES)


def seed_rules(session: Session) -> None:
    # The rail-transit area of 杨家坪: traffic lights there belong to the Transport Bureau, not the police.
    rules.create_rule(
        session,
        actor=ACTOR,
        category="BJ0210",
        area="500107001000",
        unit="dept-jtj",
        note="示例：杨家坪片区信号灯由区交通局维护",
    )
    # Idle air-conditioner complaints in 黄桷坪 go to the street (no default handler for that category).
    rules.create_rule(session, actor=ACTOR, category="SJ0513", area="500107002000", unit="500107002000")


def _points(session: Session, rng: random.Random, n: int) -> list[tuple[float, float, str]]:
    """Random points inside grid cells, weighted to the urban streets (where most reports come from)."""
    grids = session.execute(select(Unit).where(Unit.kind == UnitKind.grid)).scalars().all()
    weights = [6 if any(s in g.name for s in STREETS_NEAR[:8]) else 1 for g in grids]
    out = []
    chosen = rng.choices(grids, weights=weights, k=n)
    shapes: dict[int, Any] = {}
    for g in chosen:
        poly = shapes.setdefault(g.id, shape(g.geometry))
        minx, miny, maxx, maxy = poly.bounds
        while True:
            p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            if poly.contains(p):
                break
        street = g.name.split("街道")[0].split("镇")[0]
        out.append((round(p.x, 6), round(p.y, 6), f"{street}{rng.randint(1, 300)}号附近"))
    return out


def _lifecycle(
    rng: random.Random, cat: Category, urgency: str, reported: datetime, current: datetime
) -> dict:
    """Timestamps of one case, drawn so most meet their deadlines and some do not."""
    row: dict[str, Any] = {"reported_at": reported}
    age = current - reported
    dl = cat.deadlines

    def step(name: str, late_share: float) -> timedelta:
        allowed = deadlines.step_duration(dl, urgency, name)
        factor = rng.uniform(1.05, 2.5) if rng.random() < late_share else rng.uniform(0.1, 0.9)
        return allowed * factor

    if rng.random() < 0.04:
        row.update(state="voided", voided_at=reported + step("register", 0.1))
        return row
    t = reported + step("register", 0.05)
    if t > current or (age < timedelta(hours=2) and rng.random() < 0.5) or rng.random() < 0.01:
        return {**row, "state": "reported"}
    row["registered_at"] = t
    t += step("dispatch", 0.08)
    if t > current or rng.random() < 0.02:  # a few wait for dispatch far too long
        return {**row, "state": "registered"}
    row["dispatched_at"] = t
    handling = step("handle", 0.15)
    row["accepted_at"] = t + handling * rng.uniform(0.05, 0.3)
    t += handling
    if rng.random() < 0.03 and row["accepted_at"] < current:
        return {**row, "state": "parked"}
    stalled = rng.random() < 0.07  # some units sit on cases: these show as overdue in the queue
    if t > current or stalled:
        if row["accepted_at"] < current:
            return {**row, "state": "handling"}
        row.pop("accepted_at")
        return {**row, "state": "dispatched"}
    row["feedback_at"] = t
    if rng.random() < 0.08:
        row["rework_count"] = 1
        t += step("verify", 0.1) + step("handle", 0.3)
        row["feedback_at"] = t
    t += step("verify", 0.1)
    if t > current:
        return {**row, "state": "feedback"}
    row["verified_at"] = t
    t += timedelta(minutes=rng.uniform(5, 120))
    if t > current:
        return {**row, "state": "verified"}
    row.update(state="closed", closed_at=t)
    if rng.random() < 0.55:
        row["rating"] = rng.choices(
            ["satisfied", "basically_satisfied", "dissatisfied"], weights=[78, 15, 7]
        )[0]
        row["rated_at"] = t + timedelta(hours=rng.uniform(1, 30))
        if row["rated_at"] > current:
            row.pop("rating"), row.pop("rated_at")
    return row


def _month(session: Session, rng: random.Random, count: int) -> list[tuple[int, dict[str, Any]]]:
    current = now()
    cats = list(session.execute(select(Category).order_by(Category.sort_order)).scalars())
    users = {u.username: u.id for u in session.execute(select(User)).scalars()}
    points = _points(session, rng, count)
    sources, weights = zip(*SOURCE_WEIGHTS.items(), strict=True)
    rows = []
    for i in range(count):
        reported = current - timedelta(days=30) * (rng.random() ** 0.8)
        cat = rng.choice(cats)
        emergency = cat.minor_code in EMERGENCY and cat.kind == "event"
        urgency = "emergency" if emergency else ("urgent" if rng.random() < 0.1 else "normal")
        lon, lat, address = points[i]
        source = rng.choices(sources, weights=weights)[0]
        row = {
            "category": cat.code,
            "source": source,
            "urgency": urgency,
            "lon": lon,
            "lat": lat,
            "address": address,
            "description": DESCRIPTIONS.get(cat.name, cat.name),
            **_lifecycle(rng, cat, urgency, reported, current),
        }
        if source in ("hotline_12345", "app", "web"):
            row["reporter_name"] = rng.choice("王李张刘陈杨赵黄周吴") + rng.choice(["先生", "女士"])
            row["reporter_phone"] = f"1{rng.randint(30, 99)}{rng.randint(10_000_000, 99_999_999)}"
        if source == "app" and rng.random() < 0.3:
            row["reporter_user_id"] = users.get("citizen")
        if source == "inspector":
            row["reporter_user_id"] = users.get("inspector")
        rows.append((i + 1, row))
    return rows


def _events(session: Session, ids: list[int], rows: list[tuple[int, dict[str, Any]]]) -> None:
    """The timeline each generated case would have had."""
    out = []
    steps = [
        ("registered_at", "register", "registered", True),
        ("dispatched_at", "dispatch", "dispatched", True),
        ("accepted_at", "accept", "handling", True),
        ("feedback_at", "feedback", "feedback", True),
        ("verified_at", "verify_pass", "verified", True),
        ("closed_at", "close", "closed", True),
        ("voided_at", "void", "voided", True),
    ]
    for case_id, (_, row) in zip(ids, rows, strict=True):
        base = {
            "case_id": case_id,
            "actor_user_id": None,
            "unit_id": None,
            "note": None,
            "public_note": None,
            "evidence": None,
            "data": None,
            "from_state": None,
        }
        out.append(
            {
                **base,
                "at": row["reported_at"],
                "action": "report",
                "to_state": "reported",
                "actor_name": "demo",
                "actor_role": "system",
                "public": True,
                "data": {"source": row["source"]},
            }
        )
        for stamp, action, to_state, public in steps:
            if row.get(stamp):
                out.append(
                    {
                        **base,
                        "at": row[stamp],
                        "action": action,
                        "to_state": to_state,
                        "actor_name": "demo",
                        "actor_role": "system",
                        "public": public,
                    }
                )
        if row.get("rework_count"):
            out.append(
                {
                    **base,
                    "at": row["feedback_at"] - timedelta(hours=1),
                    "action": "verify_fail",
                    "to_state": "handling",
                    "actor_name": "demo",
                    "actor_role": "system",
                    "public": True,
                    "note": "现场核查未整改到位",
                }
            )
        if row.get("rating"):
            out.append(
                {
                    **base,
                    "at": row["rated_at"],
                    "action": "rate",
                    "to_state": "closed",
                    "actor_name": "demo",
                    "actor_role": "system",
                    "public": True,
                    "data": {"score": row["rating"]},
                }
            )
    session.execute(insert(cast(Table, CaseEvent.__table__)), out)


def seed(session: Session, *, count: int = 1200) -> int:
    """Categories, rules and a month of cases; returns the number of cases (0 when already seeded)."""
    if not seed_categories(session):
        return 0
    seed_rules(session)
    rng = random.Random(30428)
    rows = _month(session, rng, count)
    stats = importer.import_rows(session, actor=ACTOR, rows=rows, label="demo month", events=False)
    _events(session, stats.ids, rows)
    return stats.count
