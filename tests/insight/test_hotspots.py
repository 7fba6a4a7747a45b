"""Hotspot grouping: one problem at one place is one hotspot; two places are two; heat ranks them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cityloop.insight.hotspots import Report, find_hotspots

START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
# Reports about one problem word it differently but share its key terms (工地, 施工, 噪音), as real ones do.
NOISE = [
    ("{p}附近工地夜间施工噪音扰民", "{p}旁边的工地每天晚上施工到凌晨，噪音很大，居民无法休息。"),
    ("投诉{p}旁工地晚上施工噪音太吵", "{p}的工地夜里还在施工，机器噪音吵得睡不着，请管一管。"),
    ("{p}周边工地半夜施工噪音大", "住在{p}，周边工地半夜施工，噪音扰民严重。"),
]
PARKING = [
    ("{p}门口车辆乱停堵塞消防通道", "{p}门口每天车辆乱停，堵住消防通道，出行困难。"),
    ("{p}消防通道被乱停车辆占用", "{p}的消防通道常被私家车占用，车辆乱停没人管。"),
]
ODDS = [
    ("红星村自来水水压太低", "红星村最近自来水水压很低，楼上没有水。"),
    ("东风路路灯坏了", "东风路晚上一片漆黑，路灯坏了很久。"),
    ("实验小学门口摊贩占道", "实验小学门口摊贩占道经营，学生上学不安全。"),
]
# Other reports of the same period, each problem at several places and no place twice with one problem:
# grouping is judged against a background, as in any real export.
BG_PLACES = [
    "金桥路",
    "和平广场",
    "滨河社区",
    "东湖村",
    "人民医院",
    "北城菜市场",
    "新华书店",
    "南山公园",
    "青年路",
]
BG_PROBLEMS = {
    "井盖缺失": "路面上的井盖不见了，晚上行人很容易掉下去。",
    "化粪池堵塞": "化粪池满了往外冒，污水流到路上。",
    "道路坑洼积水": "路面坑坑洼洼，一下雨就积水，车辆溅水。",
    "活禽宰杀卫生差": "摊位现场宰杀活禽，血水和羽毛到处都是。",
    "招牌脱落": "商铺的大招牌松动了一角，刮风时摇摇欲坠。",
    "健身器材损坏": "健身器材的扶手断了，老人锻炼容易受伤。",
    "树木倒伏": "昨夜大风把行道树吹倒，压在人行道上。",
    "共享单车乱放": "共享单车堆满了盲道，行人只能走机动车道。",
    "电梯经常故障": "电梯这个月坏了三次，有人被困在里面。",
    "外墙瓷砖掉落": "高处外墙瓷砖往下掉，差点砸到路人。",
}
BACKGROUND = [
    (f"{place}{problem}", f"{place}{detail}希望有关部门尽快处理。")
    for k, place in enumerate(BG_PLACES)
    for problem, detail in list(BG_PROBLEMS.items())[k % 3 :: 2]
]


def _reports(templates, place: str, count: int, prefix: str, day0: int = 0, support: int = 0) -> list[Report]:
    out = []
    for k in range(count):
        title, body = templates[k % len(templates)]
        out.append(
            Report(
                id=f"{prefix}{k}",
                title=title.format(p=place),
                body=body.format(p=place),
                time=START + timedelta(days=day0 + 2 * k, hours=k),
                support=support,
            )
        )
    return out


def _background() -> list[Report]:
    return [
        Report(id=f"bg{k}", title=t, body=b, time=START + timedelta(days=k, hours=3))
        for k, (t, b) in enumerate(BACKGROUND)
    ]


def _by_member(spots) -> dict[str, str]:
    return {m: h.hotspot_id for h in spots for m in h.members}


def test_the_same_problem_at_two_places_makes_two_hotspots() -> None:
    reports = _reports(NOISE, "幸福小区", 6, "a") + _reports(NOISE, "阳光花园", 6, "b") + _background()
    spots = find_hotspots(reports)
    assert len(spots) == 2
    groups = sorted(sorted(h.members) for h in spots)
    assert groups == [sorted(f"a{k}" for k in range(6)), sorted(f"b{k}" for k in range(6))]
    assert {h.place for h in spots} == {"幸福小区", "阳光花园"}


def test_two_problems_at_one_place_are_two_hotspots_and_lone_reports_none() -> None:
    odds = [
        Report(id=f"o{k}", title=t, body=b, time=START + timedelta(days=k)) for k, (t, b) in enumerate(ODDS)
    ]
    reports = (
        _reports(NOISE, "幸福小区", 5, "n")
        + _reports(PARKING, "幸福小区", 4, "p", day0=1)
        + odds
        + _background()
    )
    spots = find_hotspots(reports)
    member_of = _by_member(spots)
    assert len({member_of[f"n{k}"] for k in range(5)}) == 1
    assert len({member_of[f"p{k}"] for k in range(4)}) == 1
    assert member_of["n0"] != member_of["p0"]
    assert not any(f"o{k}" in member_of for k in range(3))


def test_heat_counts_reports_supporters_and_recency() -> None:
    big = _reports(NOISE, "幸福小区", 8, "big")
    small = _reports(NOISE, "阳光花园", 3, "small")
    liked = _reports(PARKING, "滨江苑", 3, "liked", support=500)
    spots = find_hotspots(big + small + liked + _background())
    heat = {h.members[0][:-1]: h.heat for h in spots}
    assert heat["big"] > heat["small"]
    assert heat["liked"] > heat["small"]
    later = _reports(NOISE, "阳光花园", 3, "small", day0=365)
    recent = {h.members[0][:-1]: h.heat for h in find_hotspots(big + later + _background())}
    assert recent["small"] > heat["small"]  # the same three reports, but recent
    assert [h.rank for h in spots] == list(range(1, len(spots) + 1))
    assert all(h.start <= h.end for h in spots)


def test_reports_of_different_categories_never_group() -> None:
    reports = _reports(NOISE, "幸福小区", 6, "x")
    tagged = [
        Report(id=r.id, title=r.title, body=r.body, time=r.time, category="A" if k < 3 else "B")
        for k, r in enumerate(reports)
    ]
    member_of = _by_member(find_hotspots(tagged + _background()))
    assert member_of["x0"] != member_of["x3"]


def test_the_summary_is_a_member_title_and_ids_are_stable() -> None:
    reports = _reports(NOISE, "幸福小区", 6, "s") + _background()
    first, again = find_hotspots(reports)[0], find_hotspots(list(reversed(reports)))[0]
    assert first.summary in {r.title for r in reports} and first.members[0].startswith("s")
    assert first.hotspot_id == again.hotspot_id
    assert find_hotspots([]) == []


def test_pair_keys_do_not_overflow_past_46k_reports() -> None:
    import numpy as np

    from cityloop.insight.hotspots import pair_keys

    n = 100_000
    rows, cols = np.array([99_998], dtype=np.int32), np.array([99_999], dtype=np.int32)
    keys = pair_keys(rows, cols, n)
    assert keys[0] > 0 and keys[0] // n == 99_998 and keys[0] % n == 99_999
