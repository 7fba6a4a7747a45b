"""``cityloop hotspots``: the two output files and their columns; bad input is one line, exit 2, no files."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cityloop.cli import app
from tests.insight.synthetic import write_csv
from tests.insight.test_hotspots import NOISE, START, _background, _reports

runner = CliRunner()


def _table(tmp_path: Path) -> Path:
    reports = _reports(NOISE, "幸福小区", 6, "a") + _reports(NOISE, "阳光花园", 4, "b") + _background()
    rows = [
        {
            "编号": r.id,
            "主题": r.title,
            "详情": r.body,
            "时间": (r.time + timedelta(hours=8)).strftime("%Y/%m/%d %H:%M:%S"),
            "点赞数": str(k % 3),
        }
        for k, r in enumerate(reports)
    ]
    return write_csv(tmp_path / "reports.csv", rows)


def _run(source: Path, out: Path, **overrides: str):
    options = {"--id": "编号", "--text": "主题,详情", "--time": "时间", "--support": "点赞数", **overrides}
    args = ["hotspots", "--csv", str(source), "--out", str(out)]
    for key, value in options.items():
        if value:
            args += [key, value]
    return runner.invoke(app, args)


def test_writes_ranked_hotspots_and_their_members(tmp_path: Path) -> None:
    out = tmp_path / "result"
    r = _run(_table(tmp_path), out)
    assert r.exit_code == 0, r.output
    with (out / "hotspots.csv").open(encoding="utf-8", newline="") as fh:
        spots = list(csv.DictReader(fh))
    with (out / "members.csv").open(encoding="utf-8", newline="") as fh:
        members = list(csv.DictReader(fh))
    assert list(spots[0]) == ["rank", "hotspot_id", "heat", "start", "end", "place", "summary"]
    assert list(members[0]) == ["hotspot_id", "id"]
    assert [s["rank"] for s in spots] == [str(k) for k in range(1, len(spots) + 1)]
    assert [s["place"] for s in spots[:2]] == ["幸福小区", "阳光花园"]
    heats = [float(s["heat"]) for s in spots]
    assert heats == sorted(heats, reverse=True)
    first = {m["id"] for m in members if m["hotspot_id"] == spots[0]["hotspot_id"]}
    assert first == {f"a{k}" for k in range(6)}
    assert spots[0]["start"] == (START + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S+08:00")
    assert spots[0]["start"] <= spots[0]["end"]


def test_support_column_is_optional(tmp_path: Path) -> None:
    out = tmp_path / "result"
    r = _run(_table(tmp_path), out, **{"--support": ""})
    assert r.exit_code == 0, r.output
    assert (out / "hotspots.csv").exists()


def _rewrite(source: Path, column: str, row: int, value: str) -> None:
    with source.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[row][column] = value
    write_csv(source, rows)


@pytest.mark.parametrize(
    "column, value, fragment",
    [
        ("时间", "上周三", "row 3 has no readable date/time"),
        ("点赞数", "很多", "row 3 is not a whole number"),
        ("编号", "", "row 3 has no id"),
    ],
)
def test_bad_rows_are_named_and_nothing_is_written(
    tmp_path: Path, column: str, value: str, fragment: str
) -> None:
    source = _table(tmp_path)
    _rewrite(source, column, 1, value)
    out = tmp_path / "result"
    r = _run(source, out)
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert fragment in r.output
    assert not out.exists()


@pytest.mark.parametrize(
    "overrides, fragment",
    [({"--time": "日期"}, "has no column 日期"), ({"--text": "点赞数"}, "holds no text")],
)
def test_bad_columns_are_one_error_line(tmp_path: Path, overrides: dict[str, str], fragment: str) -> None:
    out = tmp_path / "result"
    r = _run(_table(tmp_path), out, **overrides)
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert fragment in r.output and not out.exists()


def test_out_must_be_a_directory_and_an_empty_file_is_refused(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("x", encoding="utf-8")
    r = _run(_table(tmp_path), taken)
    assert r.exit_code == 2 and "not a directory" in r.output
    assert taken.read_text(encoding="utf-8") == "x"
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    r = _run(empty, tmp_path / "result")
    assert r.exit_code == 2 and "is empty" in r.output and not (tmp_path / "result").exists()
