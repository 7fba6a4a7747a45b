"""Duplicate suggestions weigh place, time and text: the same words a little farther away still count,
different words just outside the radius do not, and the most similar comes first."""

from __future__ import annotations

from typing import Any

from tests.cases.helpers import YJP, report

GRID = f"{YJP}-C1-G1"
# SJ0102 (暴露垃圾) has a 50 m radius; 0.0007° of longitude here is about 68 m.
BEYOND_RADIUS = 0.0007


def test_same_words_count_up_to_twice_the_radius(client: Any, db: Any, token_for: Any) -> None:
    h = token_for("dispatcher")
    text = "幸福小区北门路边堆放大量生活垃圾无人清运"
    first = report(client, h, db, grid=GRID, description=text).json()
    second = report(client, h, db, grid=GRID, description=text, shift=BEYOND_RADIUS).json()
    found = {d["id"]: d for d in second["duplicates"]}
    assert first["id"] in found
    assert found[first["id"]]["similarity"] > 0.9 and 50 < found[first["id"]]["distance_m"] <= 100


def test_other_words_just_outside_the_radius_are_not_duplicates(client: Any, db: Any, token_for: Any) -> None:
    h = token_for("dispatcher")
    first = report(client, h, db, grid=GRID, description="幸福小区北门路边堆放大量生活垃圾").json()
    second = report(client, h, db, grid=GRID, description="菜市场后面一袋垃圾", shift=BEYOND_RADIUS).json()
    assert first["id"] not in [d["id"] for d in second["duplicates"]]


def test_the_most_similar_report_comes_first(client: Any, db: Any, token_for: Any) -> None:
    h = token_for("dispatcher")
    unlike = report(client, h, db, grid=GRID, description="有一袋垃圾", shift=0.0001).json()
    like = report(
        client, h, db, grid=GRID, description="幸福小区北门路边堆放大量生活垃圾", shift=0.0002
    ).json()
    new = report(client, h, db, grid=GRID, description="幸福小区北门路边堆放大量生活垃圾").json()
    ids = [d["id"] for d in new["duplicates"]]
    assert ids.index(like["id"]) < ids.index(unlike["id"])
    assert all(0 <= d["score"] <= 1 for d in new["duplicates"])
