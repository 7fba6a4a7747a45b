"""Place names in Chinese report text."""

from __future__ import annotations

import pytest

from cityloop.insight.places import compatible, extract


@pytest.mark.parametrize(
    "title, expected",
    [
        ("A2区丽发新城小区附近搅拌站噪音扰民", "丽发新城"),
        ("九龙坡区杨家坪步行街占道经营", "杨家坪步行街"),
        ("A市金桥路路灯不亮", "金桥路"),
        ("A2区楚府中学乱收费", "楚府中学"),
        ("投诉伊景园·滨河苑捆绑销售车位", "伊景园滨河苑"),
        ("西湖街道茶场村五组何时拆迁", "茶场村"),
        ("航鑫物资回收公司施工扰民", "航鑫物资回收公司"),
        ("劳动东路魅力之城小区油烟扰民", "劳动东路"),
    ],
)
def test_finds_the_place_a_title_names(title: str, expected: str) -> None:
    found = extract("", title=title)
    assert any(expected == name or expected in name for name in found), found


@pytest.mark.parametrize(
    "title",
    ["小区附近建搅拌站噪音扰民", "由于路面不平经常积水", "希望增加幼儿园学位", "市委市政府领导您好"],
)
def test_common_nouns_and_addressees_are_not_places(title: str) -> None:
    assert extract("", title=title) == []


def test_the_body_is_read_only_when_the_title_names_no_place() -> None:
    assert extract("我是丽发新城小区的业主，附近的搅拌站很吵。", title="投诉小区附近搅拌站噪音") == [
        "丽发新城"
    ]
    assert extract("我家在金桥路。", title="阳光花园停车难") == ["阳光花园"]


def test_names_from_the_district_gazetteer_are_found_without_a_suffix() -> None:
    found = extract("", title="谢家湾正街片区井盖缺失", known=["谢家湾正街片区", "黄桷坪"])
    assert "谢家湾正街片区" in found


def test_places_are_compatible_when_one_name_contains_the_other() -> None:
    assert compatible(["丽发新城"], ["暮云街道丽发新城"])
    assert not compatible(["丽发新城"], ["阳光花园", "金桥路"])
