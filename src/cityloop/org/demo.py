"""The demo district: 九龙坡区 with its real streets, towns, departments and task forces.

Names and statistics codes are real (codes from the national division list; 二郎街道 has none
there, so it gets a local code). All geometry here is SCHEMATIC — an outline drawn roughly around
the district and Voronoi cells around approximate seats — and every shape is flagged
``geometry_schematic``; real boundaries are loaded with ``cityloop org import-units``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import shapely
from shapely.geometry import MultiPoint, Point, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core.audit import Actor
from cityloop.core.geo import to_geojson
from cityloop.org import service
from cityloop.org.models import Unit, UnitKind

DEMO_PASSWORD = "cityloop-demo"
ACTOR = Actor("seed-demo")


@dataclass(frozen=True)
class Area:
    name: str
    code: str
    kind: UnitKind
    administered_by: str | None
    lon: float  # approximate seat, for the schematic cells only
    lat: float
    pinyin: str


AREAS = [
    Area("杨家坪街道", "500107001000", UnitKind.street, None, 106.512, 29.508, "yangjiaping"),
    Area("黄桷坪街道", "500107002000", UnitKind.street, None, 106.520, 29.482, "huangjueping"),
    Area("谢家湾街道", "500107003000", UnitKind.street, None, 106.528, 29.525, "xiejiawan"),
    Area("石坪桥街道", "500107004000", UnitKind.street, None, 106.498, 29.495, "shipingqiao"),
    Area("中梁山街道", "500107006000", UnitKind.street, None, 106.440, 29.545, "zhongliangshan"),
    Area("渝州路街道", "500107007000", UnitKind.street, None, 106.505, 29.535, "yuzhoulu"),
    Area("石桥铺街道", "500107008000", UnitKind.street, None, 106.486, 29.545, "shiqiaopu"),
    Area("九龙街道", "500107009000", UnitKind.street, None, 106.530, 29.460, "jiulong"),
    Area("二郎街道", "500107-erlang", UnitKind.street, None, 106.470, 29.520, "erlang"),
    Area("华岩镇", "500107102000", UnitKind.town, None, 106.450, 29.480, "huayan"),
    Area("含谷镇", "500107103000", UnitKind.town, "重庆高新区", 106.355, 29.505, "hangu"),
    Area("金凤镇", "500107104000", UnitKind.town, "重庆高新区", 106.390, 29.540, "jinfeng"),
    Area("白市驿镇", "500107105000", UnitKind.town, "重庆高新区", 106.370, 29.470, "baishiyi"),
    Area("走马镇", "500107106000", UnitKind.town, "重庆高新区", 106.290, 29.450, "zouma"),
    Area("石板镇", "500107107000", UnitKind.town, "重庆高新区", 106.395, 29.410, "shiban"),
    Area("巴福镇", "500107108000", UnitKind.town, "重庆高新区", 106.300, 29.510, "bafu"),
    Area("陶家镇", "500107109000", UnitKind.town, None, 106.450, 29.400, "taojia"),
    Area("西彭镇", "500107110000", UnitKind.town, None, 106.340, 29.330, "xipeng"),
    Area("铜罐驿镇", "500107111000", UnitKind.town, None, 106.430, 29.300, "tongguanyi"),
]

# A rough outline around the district (lon, lat). Not the official boundary.
SCHEMATIC_OUTLINE = [
    (106.548, 29.540),
    (106.525, 29.566),
    (106.470, 29.562),
    (106.420, 29.570),
    (106.360, 29.560),
    (106.300, 29.548),
    (106.258, 29.500),
    (106.250, 29.440),
    (106.280, 29.380),
    (106.300, 29.300),
    (106.360, 29.262),
    (106.430, 29.258),
    (106.475, 29.300),
    (106.500, 29.360),
    (106.525, 29.425),
    (106.548, 29.480),
    (106.548, 29.540),
]

DEPARTMENTS = [
    ("dept-cgj", "区城市管理局", "City Management Bureau"),
    ("dept-zjw", "区住房城乡建委", "Housing and Urban-Rural Development Commission"),
    ("dept-jtj", "区交通局", "Transport Bureau"),
    ("dept-sthjj", "区生态环境局", "Ecology and Environment Bureau"),
    ("dept-ghzyj", "区规划自然资源局", "Planning and Natural Resources Bureau"),
    ("dept-yjj", "区应急管理局", "Emergency Management Bureau"),
    ("dept-mzj", "区民政局", "Civil Affairs Bureau"),
    ("dept-swj", "区商务委", "Commerce Commission"),
    ("dept-dsjj", "区大数据发展局", "Big Data Development Bureau"),
    ("dept-gafj", "区公安分局", "Public Security Sub-bureau"),
    ("dept-wmb", "区文明办", "Civilisation Office"),
    ("dept-slj", "区水利局", "Water Resources Bureau"),
    ("dept-wjw", "区卫生健康委", "Health Commission"),
    ("dept-jw", "区教委", "Education Commission"),
    ("dept-scjgj", "区市场监管局", "Market Regulation Bureau"),
    ("dept-zhzx", "区城市运行管理指挥中心", "City Operations Command Centre"),
]

# The ten actions of the current iteration (seed), each run by a special task force.
ACTIONS = [
    ("tf-yjnl", "城市应急能力建设"),
    ("tf-njaj", "宁静安居"),
    ("tf-wymd", "物业矛盾化解"),
    ("tf-tczl", "停车综合治理"),
    ("tf-cwzl", "拆违治乱"),
    ("tf-zscq", "征收拆迁地块清零和利用"),
    ("tf-ggcx", "公轨出行优化"),
    ("tf-kzfx", "空中“飞线”整治"),
    ("tf-wmsz", "市民文明素质提升"),
    ("tf-shq", "“15分钟高品质生活服务圈”建设"),
]

UTILITIES = [
    ("util-water", "供水运营单位", "Water supply operator"),
    ("util-drain", "排水运营单位", "Drainage operator"),
    ("util-gas", "燃气运营单位", "Gas operator"),
]

# One demo login per role (username, role, unit code, display name).
DEMO_ACCOUNTS = [
    ("admin", "admin", "500107", "系统管理员"),
    ("supervisor", "supervisor", "gtf", "总专班督导员"),
    ("leader", "leader", "leaders", "区领导(示例)"),
    ("department", "department", "dept-cgj", "城市管理局工作人员"),
    ("street", "street", "500107001000", "杨家坪街道工作人员"),
    ("dispatcher", "dispatcher", "dept-zhzx", "指挥中心派遣员"),
    ("inspector", "inspector", "500107001000-C1-G1", "杨家坪网格员"),
    ("enforcement", "enforcement", "enf-500107001000", "杨家坪执法中队队员"),
    ("operator", "operator", "util-water", "供水运营值班员"),
    ("citizen", "citizen", "500107", "市民(示例)"),
    # A second street, so scope can be seen working in the demo.
    ("street2", "street", "500107002000", "黄桷坪街道工作人员"),
]


def _split(poly: BaseGeometry, parts: int, rng: random.Random) -> list[BaseGeometry]:
    """Cut a polygon into ``parts`` Voronoi cells around random interior points (schematic)."""
    minx, miny, maxx, maxy = poly.bounds
    pts: list[Point] = []
    while len(pts) < parts:
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if poly.contains(p):
            pts.append(p)
    cells = shapely.voronoi_polygons(MultiPoint(pts), extend_to=poly.envelope.buffer(0.05))
    out = [c.intersection(poly) for c in cells.geoms]
    return [c for c in out if not c.is_empty] or [poly]


def _area_cells() -> dict[str, BaseGeometry]:
    outline = Polygon(SCHEMATIC_OUTLINE)
    seats = MultiPoint([(a.lon, a.lat) for a in AREAS])
    cells = shapely.voronoi_polygons(seats, extend_to=outline.envelope.buffer(0.1))
    result: dict[str, BaseGeometry] = {}
    for area in AREAS:
        seat = Point(area.lon, area.lat)
        cell = next(c for c in cells.geoms if c.contains(seat))
        result[area.code] = cell.intersection(outline)
    result["500107"] = outline
    return result


def seed(session: Session) -> bool:
    """Create the demo district. Returns False (and changes nothing) when it already exists."""
    if session.execute(select(Unit.id).where(Unit.code == "500107")).first():
        return False
    rng = random.Random(500107)
    shapes = _area_cells()
    district = service.create_unit(
        session,
        actor=ACTOR,
        code="500107",
        name="九龙坡区",
        name_en="Jiulongpo District",
        kind=UnitKind.district,
        parent=None,
        geometry=to_geojson(shapes["500107"]),
        geometry_schematic=True,
    )
    service.create_unit(
        session,
        actor=ACTOR,
        code="leaders",
        name="区领导",
        name_en="District leaders",
        kind=UnitKind.leadership,
        parent=district,
        sort_order=1,
    )
    gtf = service.create_unit(
        session,
        actor=ACTOR,
        code="gtf",
        name="城市现代化治理总专班办公室",
        name_en="General task-force office",
        kind=UnitKind.general_taskforce,
        parent=district,
        sort_order=2,
    )
    for i, (code, action) in enumerate(ACTIONS):
        service.create_unit(
            session,
            actor=ACTOR,
            code=code,
            name=f"{action}专项专班",
            kind=UnitKind.special_taskforce,
            parent=gtf,
            sort_order=i,
        )
    for i, (code, name, name_en) in enumerate(DEPARTMENTS):
        service.create_unit(
            session,
            actor=ACTOR,
            code=code,
            name=name,
            name_en=name_en,
            kind=UnitKind.department,
            parent=district,
            sort_order=10 + i,
        )
    for i, (code, name, name_en) in enumerate(UTILITIES):
        service.create_unit(
            session,
            actor=ACTOR,
            code=code,
            name=name,
            name_en=name_en,
            kind=UnitKind.utility,
            parent=district,
            sort_order=40 + i,
        )
    enforcement = service.create_unit(
        session,
        actor=ACTOR,
        code="enf",
        name="区综合行政执法大队",
        name_en="Unified enforcement team",
        kind=UnitKind.enforcement_team,
        parent=district,
        sort_order=30,
    )
    for i, area in enumerate(AREAS):
        unit = service.create_unit(
            session,
            actor=ACTOR,
            code=area.code,
            name=area.name,
            name_en=area.pinyin.title(),
            kind=area.kind,
            parent=district,
            geometry=to_geojson(shapes[area.code]),
            geometry_schematic=True,
            administered_by=area.administered_by,
            sort_order=100 + i,
        )
        service.create_unit(
            session,
            actor=ACTOR,
            code=f"enf-{area.code}",
            name=f"{area.name}综合执法中队",
            kind=UnitKind.enforcement_squadron,
            parent=enforcement,
            sort_order=i,
        )
        for c, community_shape in enumerate(_split(shapes[area.code], 2, rng), start=1):
            community = service.create_unit(
                session,
                actor=ACTOR,
                code=f"{area.code}-C{c}",
                name=f"{area.name}第{c}社区(示意)",
                kind=UnitKind.community,
                parent=unit,
                geometry=to_geojson(community_shape),
                geometry_schematic=True,
                sort_order=c,
            )
            for g, grid_shape in enumerate(_split(community_shape, 2, rng), start=1):
                service.create_unit(
                    session,
                    actor=ACTOR,
                    code=f"{area.code}-C{c}-G{g}",
                    name=f"{area.name}{c}-{g}网格",
                    kind=UnitKind.grid,
                    parent=community,
                    geometry=to_geojson(grid_shape),
                    geometry_schematic=True,
                    sort_order=g,
                )
    for username, role, unit_code, display in DEMO_ACCOUNTS:
        unit = service.find_unit(session, ref=unit_code)
        service.create_user(
            session,
            actor=ACTOR,
            username=username,
            password=DEMO_PASSWORD,
            role=role,
            unit=unit,
            display_name=display,
        )
    return True
