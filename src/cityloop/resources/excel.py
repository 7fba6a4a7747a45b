"""Excel ledgers for buildings: a template, an all-or-nothing import, and a graded export.

The workbook has two sheets: 楼宇 (the registry: one row per building) and 指标 (one row per
building and period, one column per indicator of the active system). Every cell is checked before
anything is written; each problem is reported with its sheet, row and column, and one problem
means nothing is imported.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.errors import ValidationFailed
from cityloop.core.permissions import Principal
from cityloop.core.validation import clean_row
from cityloop.resources import grading, service
from cityloop.resources.models import Building
from cityloop.resources.places import locator

BUILDING_SHEET = "楼宇"
REPORT_SHEET = "指标"
BUILDING_COLUMNS = [
    ("code", "楼宇编码"),
    ("name", "名称"),
    ("kind", "类型(office/industrial/mixed)"),
    ("address", "地址"),
    ("lon", "经度(WGS84)"),
    ("lat", "纬度(WGS84)"),
    ("floor_area_m2", "建筑面积(m²)"),
    ("operator", "运营方"),
]
MAX_ROWS = 20_000


def _header(code: str, label: str) -> str:
    return f"{label} [{code}]"


def template(session: Session) -> bytes:
    """An empty workbook with both sheets' headers (indicator columns from the active system)."""
    system = grading.active_system(session)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = BUILDING_SHEET
    ws.append([_header(c, label) for c, label in BUILDING_COLUMNS])
    rs = wb.create_sheet(REPORT_SHEET)
    rs.append(
        [_header("code", "楼宇编码"), _header("period", "期间(2026 / 2026-Q3 / 2026-09)")]
        + [
            _header(i.code, f"{i.name}({i.unit_label})" if i.unit_label else i.name)
            for i in system.indicators
        ]
    )
    for sheet in (ws, rs):
        for col in range(1, sheet.max_column + 1):
            sheet.column_dimensions[get_column_letter(col)].width = 18
    return _save(wb)


def _save(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@dataclass
class Problems:
    items: list[dict[str, Any]]

    def add(self, sheet: str, row: int, column: str, problem: str) -> None:
        self.items.append({"sheet": sheet, "row": row, "column": column, "problem": problem})


def _columns(headers: list[Any]) -> dict[str, int]:
    """Column code -> 0-based index, from headers "label [code]" (or a bare code)."""
    out = {}
    for i, h in enumerate(headers):
        text = str(h or "").strip()
        code = text[text.rfind("[") + 1 : -1] if text.endswith("]") and "[" in text else text
        if code:
            out[code] = i
    return out


def _rows(ws: Any) -> tuple[dict[str, int], list[tuple[int, tuple[Any, ...]]]]:
    it = ws.iter_rows(values_only=True)
    headers = list(next(it, ()) or ())
    rows = [(n, clean_row(r)) for n, r in enumerate(it, start=2) if any(v not in (None, "") for v in r)]
    return _columns(headers), rows


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def import_workbook(
    session: Session, *, actor: Any, principal: Principal | None, data: bytes, filename: str
) -> dict[str, int]:
    """Buildings and indicator reports from a workbook; returns counts, or raises with every problem."""
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/ValueError for non-workbooks
        raise ValidationFailed(
            "resources.excel_unreadable", path=filename, reason=type(exc).__name__
        ) from exc
    if REPORT_SHEET not in wb.sheetnames and BUILDING_SHEET not in wb.sheetnames:
        raise ValidationFailed("resources.excel_sheets", sheets=f"{BUILDING_SHEET}, {REPORT_SHEET}")
    problems = Problems([])
    system = grading.active_system(session)
    where = locator(session)
    existing = {b.code: b for b in session.execute(select(Building)).scalars()}
    new_buildings: list[dict[str, Any]] = []
    if BUILDING_SHEET in wb.sheetnames:
        new_buildings = _check_buildings(wb[BUILDING_SHEET], problems, where, principal, existing)
    known = set(existing) | {b["code"] for b in new_buildings}
    reports: list[tuple[str, str, dict[str, float]]] = []
    if REPORT_SHEET in wb.sheetnames:
        reports = _check_reports(wb[REPORT_SHEET], problems, system, known, existing, principal)
    if problems.items:
        first = problems.items[0]
        raise ValidationFailed(
            "resources.excel_invalid",
            details=problems.items[:500],
            count=len(problems.items),
            first=f"{first['sheet']}!{first['column']}{first['row']}: {first['problem']}",
        )
    for b in new_buildings:
        if b["code"] in existing:
            row = existing[b["code"]]
            before = audit.snapshot(row)
            for key in ("name", "kind", "address", "lon", "lat", "floor_area_m2", "operator", "unit_id"):
                setattr(row, key, b[key])
            session.flush()
            audit.record(
                session,
                actor=actor,
                action="update",
                entity_type="building",
                entity_id=row.id,
                before=before,
                after=audit.snapshot(row),
            )
        else:
            unit_id = b.pop("unit_id")
            row = Building(**b, unit_id=unit_id)
            session.add(row)
            session.flush()
            audit.record(
                session,
                actor=actor,
                action="create",
                entity_type="building",
                entity_id=row.id,
                after=audit.snapshot(row),
            )
            existing[row.code] = row
    for code, period, values in reports:
        service.put_report(
            session, actor=actor, building=existing[code], period=period, values=values, source=filename[:120]
        )
    return {"buildings": len(new_buildings), "reports": len(reports)}


def _check_buildings(
    ws: Any, problems: Problems, where: Any, principal: Principal | None, existing: dict[str, Building]
) -> list[dict[str, Any]]:
    cols, rows = _rows(ws)
    missing = [code for code, _ in BUILDING_COLUMNS[:2] + BUILDING_COLUMNS[4:7] if code not in cols]
    for code in missing:
        problems.add(BUILDING_SHEET, 1, code, "column missing")
    if missing:
        return []
    out, seen = [], set()
    letter = {c: get_column_letter(i + 1) for c, i in cols.items()}

    def cell(r: tuple[Any, ...], c: str) -> Any:
        return r[cols[c]] if c in cols and cols[c] < len(r) else None

    for n, r in rows[:MAX_ROWS]:
        code, name = str(cell(r, "code") or "").strip(), str(cell(r, "name") or "").strip()
        kind = str(cell(r, "kind") or "office").strip()
        lon, lat, area = _num(cell(r, "lon")), _num(cell(r, "lat")), _num(cell(r, "floor_area_m2"))
        if not code:
            problems.add(BUILDING_SHEET, n, letter["code"], "missing")
        elif code in seen:
            problems.add(BUILDING_SHEET, n, letter["code"], f"{code} appears twice")
        seen.add(code)
        if not name:
            problems.add(BUILDING_SHEET, n, letter["name"], "missing")
        if kind not in service.BUILDING_KINDS:
            problems.add(
                BUILDING_SHEET, n, letter.get("kind", "?"), f"{kind!r} is not office/industrial/mixed"
            )
        if area is None or area <= 0:
            problems.add(BUILDING_SHEET, n, letter["floor_area_m2"], "must be a number > 0")
        unit = None
        if lon is None or lat is None:
            problems.add(BUILDING_SHEET, n, letter["lon"], "longitude/latitude are not numbers")
        else:
            unit = where.unit_for(lon, lat)
            if unit is None:
                problems.add(BUILDING_SHEET, n, letter["lon"], f"({lon}, {lat}) is outside the district")
            elif not service.in_scope(unit, principal):
                problems.add(BUILDING_SHEET, n, letter["lon"], f"in {unit.name}, outside your area")
        if code in existing and not service.in_scope(existing[code].unit, principal):
            problems.add(BUILDING_SHEET, n, letter["code"], f"{code} belongs to another area")
        if unit is not None and code and name and area and area > 0:
            out.append(
                {
                    "code": code,
                    "name": name,
                    "kind": kind,
                    "address": _opt(cell(r, "address")),
                    "lon": lon,
                    "lat": lat,
                    "floor_area_m2": area,
                    "operator": _opt(cell(r, "operator")),
                    "unit_id": unit.id,
                }
            )
    return out


def _opt(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text[:300] or None


def _check_reports(
    ws: Any,
    problems: Problems,
    system: Any,
    known: set[str],
    existing: dict[str, Building],
    principal: Principal | None,
) -> list[tuple[str, str, dict[str, float]]]:
    cols, rows = _rows(ws)
    missing = [code for code in ("code", "period") if code not in cols]
    for code in missing:
        problems.add(REPORT_SHEET, 1, code, "column missing")
    indicators = [i for i in system.indicators if i.code in cols]
    if not indicators:
        problems.add(REPORT_SHEET, 1, "-", "no indicator column of the active system")
    if missing or not indicators:
        return []
    out, seen = [], set()
    letter = {c: get_column_letter(i + 1) for c, i in cols.items()}
    for n, r in rows[:MAX_ROWS]:
        code = str(r[cols["code"]] or "").strip() if cols["code"] < len(r) else ""
        period = str(r[cols["period"]] or "").strip() if cols["period"] < len(r) else ""
        if code not in known:
            problems.add(REPORT_SHEET, n, letter["code"], f"building {code!r} is not registered")
        elif code in existing and not service.in_scope(existing[code].unit, principal):
            problems.add(REPORT_SHEET, n, letter["code"], f"{code} belongs to another area")
        if not service.PERIOD_RE.match(period):
            problems.add(REPORT_SHEET, n, letter["period"], f"{period!r} is not 2026, 2026-Q3 or 2026-09")
        if (code, period) in seen:
            problems.add(REPORT_SHEET, n, letter["period"], f"{code} {period} appears twice")
        seen.add((code, period))
        values = {}
        for ind in indicators:
            raw = r[cols[ind.code]] if cols[ind.code] < len(r) else None
            if raw in (None, ""):
                continue
            value = _num(raw)
            if value is None or value < 0:
                problems.add(REPORT_SHEET, n, letter[ind.code], f"{raw!r} is not a number ≥ 0")
            else:
                values[ind.code] = value
        out.append((code, period, values))
    return out


def export_ranking(session: Session, *, period: str, principal: Principal | None) -> bytes:
    """The graded ranking for a period, with the indicators and what drove any change of grade."""
    system = grading.active_system(session)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = f"评价{period}"
    ws.append(
        [
            "排名 rank",
            "楼宇编码 code",
            "名称 name",
            "街镇 street/town",
            "得分 score",
            "等级 grade",
            "上期等级 previous",
            "趋势 trend",
            "主要变化 drivers",
        ]
        + [f"{i.name} [{i.code}]" for i in system.indicators]
    )
    for r in grading.ranking(session, period=period, principal=principal):
        drivers = "; ".join(f"{d['name']} {d['delta']:+.1f}" for d in r.drivers)
        ws.append(
            [
                r.rank,
                r.building.code,
                r.building.name,
                r.building.unit.name,
                r.score.total,
                r.score.grade,
                r.previous.grade if r.previous else "",
                r.trend,
                drivers,
            ]
            + [r.report.values.get(i.code) for i in system.indicators]
        )
    return _save(wb)
