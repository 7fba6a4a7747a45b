"""Reading report tables: encodings, Excel, column checks, times; writing without half-files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook

from cityloop.core.errors import ValidationFailed
from cityloop.insight import textio

CONTENT = "编号,标题\n1,小区噪音扰民\n2,路灯不亮\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_reads_the_encodings_chinese_exports_use(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(CONTENT.encode(encoding))
    table = textio.read_table(path)
    assert table.columns == ["编号", "标题"]
    assert table.column("标题") == ["小区噪音扰民", "路灯不亮"]
    assert table.encoding == encoding


def test_an_unknown_encoding_names_each_one_tried(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(CONTENT.encode("utf-16"))
    with pytest.raises(ValidationFailed) as err:
        textio.read_table(path)
    message = err.value.message("en")
    assert "utf-8" in message and "utf-8-sig" in message and "gb18030" in message


@pytest.mark.parametrize(
    "content, fragment", [(b"", "is empty"), (b"  \n", "is empty"), ("编号,标题\n".encode(), "no data rows")]
)
def test_empty_files_are_refused(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    with pytest.raises(ValidationFailed) as err:
        textio.read_table(path)
    assert fragment in err.value.message("en")


def test_reads_the_first_sheet_of_an_excel_workbook(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["编号", "标题", "时间"])
    sheet.append([7, "小区噪音扰民", datetime(2024, 5, 1, 8, 30)])
    path = tmp_path / "in.xlsx"
    book.save(path)
    table = textio.read_table(path)
    assert table.rows == [{"编号": "7", "标题": "小区噪音扰民", "时间": "2024-05-01 08:30:00"}]


def test_column_checks_say_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("编号,标题,空\n1,小区噪音,\n2,路灯不亮,\n", encoding="utf-8")
    table = textio.read_table(path)
    with pytest.raises(ValidationFailed, match="has no column 内容") as err:
        textio.require_text(table, ["内容"])
    assert "编号, 标题, 空" in err.value.message("en")
    with pytest.raises(ValidationFailed, match="is empty"):
        textio.require_text(table, ["空"])
    with pytest.raises(ValidationFailed, match="holds no text"):
        textio.require_text(table, ["编号"])
    textio.require_text(table, ["标题"])


def test_column_lists_accept_chinese_commas() -> None:
    assert textio.parse_columns("留言主题，留言详情") == ["留言主题", "留言详情"]
    with pytest.raises(ValidationFailed):
        textio.parse_columns(" , ")


@pytest.mark.parametrize(
    "raw",
    ["2019/2/28 11:25:05", "2019-02-28 11:25:05", "2019-02-28T11:25:05", "2019年2月28日 11:25:05"],
)
def test_times_in_the_usual_export_formats_are_district_time(raw: str) -> None:
    when = textio.parse_time(raw, zone=ZoneInfo("Asia/Shanghai"))
    assert when == datetime(2019, 2, 28, 3, 25, 5, tzinfo=UTC)


def test_unreadable_times_are_none() -> None:
    assert textio.parse_time("昨天下午", zone=UTC) is None
    assert textio.parse_time("", zone=UTC) is None


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old", encoding="utf-8")

    def rows():
        yield ["a"]
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        textio.write_csv_atomic(path, ["x"], rows())
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
