"""Reading report tables (CSV or Excel) and writing results so that nothing is ever half-written.

Citizen-message exports from Chinese systems come as UTF-8, UTF-8 with a byte-order mark, or GB18030
(the superset of GBK/GB2312 that Excel on Chinese Windows writes); we try them in that order and, when
none fits, say which failed and why. Every user mistake raises ``ValidationFailed`` with a message key
from ``locales/*/insight.json``: the CLI prints it as one line and exits 2.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path

from cityloop.core.errors import ValidationFailed

ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_BOM = b"\xef\xbb\xbf"
_LETTER = re.compile(r"[^\W\d_]")  # any letter, CJK included
# Single messages can be long (the Teddy data has 7,000-character ones); the csv default is 128 KiB.
csv.field_size_limit(16 * 1024 * 1024)


@dataclass(frozen=True)
class Table:
    """A table read from a file: header names and one ``{column: text}`` dict per row."""

    path: Path
    columns: list[str]
    rows: list[dict[str, str]]
    encoding: str

    def column(self, name: str) -> list[str]:
        return [row.get(name, "") for row in self.rows]


def read_table(path: Path) -> Table:
    """Read a CSV (utf-8, utf-8-sig or gb18030) or an Excel workbook's first sheet."""
    path = Path(path)
    if not path.is_file():
        raise ValidationFailed("insight.error.file_missing", path=str(path))
    if path.suffix.lower() in EXCEL_SUFFIXES:
        return _read_excel(path)
    data = path.read_bytes()
    if not data.strip():
        raise ValidationFailed("insight.error.file_empty", path=str(path))
    text, encoding = decode(data, path)
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        records = [r for r in reader if any(cell.strip() for cell in r)]
    except csv.Error as exc:
        raise ValidationFailed("insight.error.csv_broken", path=str(path), reason=str(exc)) from exc
    return _table(path, records, encoding)


def decode(data: bytes, path: Path) -> tuple[str, str]:
    """Decode with the first encoding that fits; the error names each one tried and why it failed."""
    failures: list[str] = []
    for encoding in ENCODINGS:
        if encoding == "utf-8" and data.startswith(_BOM):
            failures.append("utf-8 (starts with a byte-order mark)")
            continue
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            failures.append(f"{encoding} (byte 0x{data[exc.start]:02x} at offset {exc.start})")
            continue
        if "\x00" in text:  # UTF-16 and binary files "decode" as GB18030 full of NULs
            failures.append(f"{encoding} (NUL characters: UTF-16 or binary?)")
            continue
        return text, encoding
    raise ValidationFailed("insight.error.encoding", path=str(path), tried="; ".join(failures))


def _read_excel(path: Path) -> Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise ValidationFailed("insight.error.excel_broken", path=str(path), reason=str(exc)) from exc
    try:
        sheet = book.worksheets[0]
        records = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    records = [r for r in records if any(cell.strip() for cell in r)]
    return _table(path, records, "xlsx")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _table(path: Path, records: list[list[str]], encoding: str) -> Table:
    if not records:
        raise ValidationFailed("insight.error.file_empty", path=str(path))
    header = [h.strip() for h in records[0]]
    if not records[1:]:
        raise ValidationFailed("insight.error.no_rows", path=str(path))
    rows = [dict(zip(header, r, strict=False)) for r in records[1:]]
    return Table(path=path, columns=header, rows=rows, encoding=encoding)


def parse_columns(spec: str) -> list[str]:
    """``"留言主题,留言详情"`` → ``["留言主题", "留言详情"]`` (Chinese commas accepted too)."""
    names = [n.strip() for n in re.split(r"[,，]", spec or "") if n.strip()]
    if not names:
        raise ValidationFailed("insight.error.no_columns_named")
    return names


def require_columns(table: Table, names: Sequence[str]) -> None:
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise ValidationFailed(
            "insight.error.column_missing",
            path=str(table.path),
            columns=", ".join(missing),
            available=", ".join(table.columns),
        )


def require_text(table: Table, names: Sequence[str]) -> None:
    """Each named column must exist, hold something, and hold words (not only numbers or dates)."""
    require_columns(table, names)
    for name in names:
        values = [v.strip() for v in table.column(name) if v.strip()]
        if not values:
            raise ValidationFailed("insight.error.column_empty", path=str(table.path), column=name)
        if not any(_LETTER.search(v) for v in values):
            raise ValidationFailed(
                "insight.error.column_not_text", path=str(table.path), column=name, example=values[0][:20]
            )


def text_fields(table: Table, names: Sequence[str]) -> list[tuple[str, ...]]:
    """One tuple of the named columns' texts per row, in the order given."""
    return [tuple(row.get(n, "") for n in names) for row in table.rows]


def write_csv_atomic(path: Path, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write UTF-8 CSV to a temporary file beside ``path``, then rename: readers never see half a file."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows(rows)
    write_bytes_atomic(path, buffer.getvalue().encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    if path.is_dir():
        raise ValidationFailed("insight.error.out_is_dir", path=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
    "%Y%m%d",
)


def parse_time(value: str, *, zone: tzinfo) -> datetime | None:
    """A date/time as report exports write it; no offset means ``zone``. None when unreadable."""
    text = (value or "").strip().replace("T", " ")
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
        for fmt in _TIME_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)
