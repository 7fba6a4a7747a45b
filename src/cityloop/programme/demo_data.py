"""The demo programme's content: the ten actions of the current iteration and plausible tasks.

Action names are the seed article's; lead departments, leaders' names, task names and targets are
illustrative (made up for the demo, not Jiulongpo's real ledger). The checklist items stand in for
the district's 《安全韧性城市建设十九条措施》, whose text is not public here.
"""

from __future__ import annotations

from dataclasses import dataclass

PROGRAMME = ("tda-2026", "城市现代化治理“十大行动”(2026)", "The ten actions of urban governance (2026)", 2026)

CHECKLISTS = [
    (
        "aqrx-19",
        "安全韧性城市建设十九条措施(验收要点,示例)",
        "示例条目:代表区《安全韧性城市建设十九条措施》清单在验收中的用法,非原文",
        [
            "风险隐患已排查建档,逐项落实责任人",
            "应急预案已修订并完成实战演练",
            "应急物资按标准储备且台账清晰",
            "监测预警设备已接入城市运行管理平台",
            "避难场所标识清晰、疏散通道畅通",
        ],
    ),
    (
        "ys-general",
        "通用末端验收清单",
        "总专班办公室",
        ["目标指标达到计划值", "过程资料齐全(台账、照片、会议纪要)", "群众回访无重大投诉"],
    ),
    (
        "jt-ydyc",
        "交通“一点一策”验收要点",
        "停车/公轨专项专班",
        ["按“一点一策”方案实施到位", "标志标线、设施完善", "高峰时段通行或停车秩序明显改善"],
    ),
]

# (name, title) — lead leaders, one per action, filed under the unit "leaders".
LEADERS = [
    ("李国栋", "区委常委、常务副区长"),
    ("王建华", "区委常委、政法委书记"),
    ("陈立新", "副区长"),
    ("刘晓梅", "副区长"),
    ("张志强", "区委常委、宣传部部长"),
    ("赵明远", "副区长"),
    ("孙丽", "副区长"),
    ("周海波", "区委常委、组织部部长"),
    ("吴静", "区政协副主席"),
    ("郑伟", "副区长"),
]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = [
    "敏",
    "强",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "霞",
    "平",
    "刚",
    "丹",
    "鹏",
    "芳",
]


@dataclass(frozen=True)
class Template:
    name: str  # "{area}" is replaced by the street/town name
    indicator: str
    unit: str
    baseline: float
    target: tuple[float, float]  # range the target is drawn from
    place: str  # Point | LineString | Polygon
    site_plan: str | None = None


@dataclass(frozen=True)
class ActionSpec:
    taskforce: str
    code: str
    name: str
    name_en: str
    lead: str
    co: tuple[str, ...]
    visions: tuple[str, ...]
    checklists: tuple[str, ...]
    local: tuple[Template, ...]
    dept: tuple[Template, ...]


T = Template
ACTIONS = [
    ActionSpec("tf-yjnl", "YJNL", "城市应急能力建设", "Urban emergency capability", "dept-yjj",
               ("dept-slj", "dept-cgj", "dept-gafj"), ("韧性", "智慧"), ("aqrx-19", "ys-general"),
               (T("{area}应急避难场所提档升级", "达标避难场所", "处", 0, (2, 5), "Polygon"),
                T("{area}微型消防站标准化建设", "微型消防站", "个", 0, (3, 8), "Point"),
                T("{area}地质灾害隐患点监测设备安装", "监测设备", "台", 0, (10, 30), "Point"),
                T("{area}易涝积水点整治", "积水点整治", "处", 0, (3, 10), "Point")),
               (T("城市安全风险综合监测预警平台建设", "接入监测点", "个", 0, (300, 600), "Point"),
                T("区级应急物资储备库建设", "储备物资品类", "类", 0, (40, 80), "Polygon"))),
    ActionSpec("tf-njaj", "NJAJ", "宁静安居", "Quiet neighbourhoods", "dept-gafj",
               ("dept-sthjj", "dept-cgj", "dept-zjw"), ("宜居", "文明"), ("ys-general",),
               (T("{area}噪声扰民投诉源头治理", "月均噪声投诉", "件", 120, (25, 45), "Point"),
                T("{area}夜间施工噪声巡查", "巡查覆盖工地", "个", 0, (12, 30), "Point"),
                T("{area}广场舞噪声管控点设置", "管控点", "处", 0, (4, 10), "Point")),
               (T("噪声自动监测站点建设", "监测站点", "个", 0, (10, 20), "Point"),)),
    ActionSpec("tf-wymd", "WYMD", "物业矛盾化解", "Resolving property-management disputes", "dept-zjw",
               ("dept-mzj", "dept-scjgj"), ("宜居",), ("ys-general",),
               (T("{area}无物业老旧小区物业服务覆盖", "覆盖小区", "个", 0, (5, 15), "Polygon"),
                T("{area}物业纠纷人民调解", "调解成功率", "%", 60, (88, 95), "Point"),
                T("{area}业委会规范组建", "规范组建业委会", "个", 0, (3, 9), "Point")),
               (T("物业服务质量评价体系上线", "纳入评价项目", "个", 0, (80, 150), "Point"),)),
    ActionSpec("tf-tczl", "TCZL", "停车综合治理", "Parking management", "dept-jtj",
               ("dept-gafj", "dept-cgj", "dept-ghzyj"), ("宜居", "智慧"), ("jt-ydyc", "ys-general"),
               (T("{area}新增公共停车泊位", "新增泊位", "个", 0, (150, 500), "Polygon",
                  "一点一策:利用闲置地块设临时停车场,出入口右进右出"),
                T("{area}占道停车秩序整治", "整治路段", "条", 0, (3, 8), "LineString",
                  "一点一策:早晚高峰禁停,夜间限时停车,配套电子抓拍"),
                T("{area}错时共享停车", "共享泊位", "个", 0, (80, 300), "Point")),
               (T("智慧停车诱导系统建设", "接入停车场", "个", 0, (60, 120), "Point"),)),
    ActionSpec("tf-cwzl", "CWZL", "拆违治乱", "Removing illegal structures", "dept-cgj",
               ("dept-ghzyj", "dept-zjw"), ("美丽",), ("ys-general",),
               (T("{area}存量违法建设拆除", "拆除面积", "m²", 0, (3000, 12000), "Polygon"),
                T("{area}新增违建零增长巡查", "巡查覆盖网格", "个", 0, (20, 40), "Point"),
                T("{area}背街小巷乱象整治", "整治小巷", "条", 0, (5, 15), "LineString")),
               (T("违法建设智能识别系统应用", "识别图斑核查", "个", 0, (200, 500), "Point"),)),
    ActionSpec("tf-zscq", "ZSCQ", "征收拆迁地块清零和利用", "Clearing and reusing expropriated plots",
               "dept-ghzyj",
               ("dept-zjw", "dept-swj"), ("创新", "美丽"), ("ys-general",),
               (T("{area}征收地块清零", "清零地块", "宗", 0, (2, 6), "Polygon"),
                T("{area}已清零地块临时利用", "利用面积", "m²", 0, (5000, 20000), "Polygon")),
               (T("征收地块信息台账数字化", "入库地块", "宗", 0, (60, 120), "Point"),)),
    ActionSpec("tf-ggcx", "GGCX", "公轨出行优化", "Bus and rail travel", "dept-jtj",
               ("dept-gafj", "dept-ghzyj"), ("宜居", "智慧"), ("jt-ydyc", "ys-general"),
               (T("{area}公交线网优化调整", "优化线路", "条", 0, (2, 6), "LineString",
                  "一点一策:与轨道站点同台换乘,调整首末班时刻"),
                T("{area}轨道站点接驳公交", "接驳线路", "条", 0, (1, 4), "LineString"),
                T("{area}公交站台改造", "改造站台", "个", 0, (6, 20), "Point")),
               (T("公交实时到站信息全覆盖", "覆盖站点", "个", 0, (300, 435), "Point"),)),
    ActionSpec("tf-kzfx", "KZFX", "空中“飞线”整治", "Tidying overhead wires", "dept-cgj",
               ("dept-zjw", "dept-yjj"), ("美丽", "韧性"), ("aqrx-19", "ys-general"),
               (T("{area}架空线缆规整入地", "整治长度", "km", 0, (3, 12), "LineString"),
                T("{area}电动车飞线充电隐患整治", "整治点位", "处", 0, (20, 60), "Point")),
               (T("集中充电设施建设", "新增充电端口", "个", 0, (500, 1500), "Point"),)),
    ActionSpec("tf-wmsz", "WMSZ", "市民文明素质提升", "Civic conduct", "dept-wmb",
               ("dept-jw", "dept-mzj"), ("文明",), ("ys-general",),
               (T("{area}新时代文明实践站点建设", "实践站点", "个", 0, (4, 10), "Point"),
                T("{area}志愿服务活动", "志愿服务时长", "小时", 0, (3000, 9000), "Point"),
                T("{area}不文明行为曝光整改", "整改率", "%", 50, (90, 98), "Point")),
               (T("文明城区创建测评迎检", "测评达标项", "项", 0, (40, 60), "Point"),)),
    ActionSpec("tf-shq", "SHQ", "“15分钟高品质生活服务圈”建设", "15-minute life-service circles", "dept-mzj",
               ("dept-swj", "dept-wjw", "dept-jw"), ("宜居", "创新"), ("ys-general",),
               (T("{area}社区养老服务站提档升级", "养老服务站", "个", 0, (2, 6), "Point"),
                T("{area}老年食堂建设", "老年食堂", "个", 0, (1, 4), "Point"),
                T("{area}便民生活圈商业网点补齐", "补齐网点", "个", 0, (8, 25), "Point")),
               (T("生活服务圈设施数字地图上线", "上图设施", "个", 0, (800, 1500), "Point"),)),
]  # fmt: skip
