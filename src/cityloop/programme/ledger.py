"""台账: the Excel task list — the template, the all-or-nothing import, and the export.

The workbook has a task sheet (one row per task) and a milestone sheet (one row per milestone,
joined by task code). Columns are found by the key in brackets in the header, e.g. "责任单位
(responsible_unit)", so a district may reorder or add columns. Every row is checked before
anything is written; any error and nothing is imported, and every error is listed with its sheet,
row and column.
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core.errors import AppError, ValidationFailed
from cityloop.core.i18n import translate
from cityloop.core.permissions import Principal
from cityloop.core.validation import clean_row, parse_int
from cityloop.org import service as org
from cityloop.org.models import Person, Unit
from cityloop.programme import permissions as perm
from cityloop.programme import plans, service
from cityloop.programme.models import Programme, Task
from cityloop.programme.plans import RESPONSIBLE_KINDS, MilestoneInput, TaskInput

TASK_SHEET, MS_SHEET, IND_SHEET = "任务清单", "里程碑", "其他指标"
TASK_COLUMNS = [
    ("action", "行动编码"),
    ("code", "任务编码"),
    ("name", "任务名称"),
    ("target", "工作目标"),
    ("indicator", "指标"),
    ("indicator_unit", "计量单位"),
    ("baseline", "基线值"),
    ("target_value", "目标值"),
    ("responsible_unit", "责任单位"),
    ("responsible_person", "责任人"),
    ("starts_on", "开始日期"),
    ("due_on", "完成日期"),
    ("lon", "经度"),
    ("lat", "纬度"),
    ("place", "位置GeoJSON"),
    ("site_plan", "一点一策"),
]
MS_COLUMNS = [
    ("task", "任务编码"),
    ("seq", "序号"),
    ("name", "里程碑"),
    ("due_on", "计划日期"),
    ("planned_pct", "计划进度%"),
    ("deliverable", "交付成果"),
]
# Optional sheet: the further indicators of a task (seq 2, 3, …; the first is on the task sheet).
IND_COLUMNS = [
    ("task", "任务编码"),
    ("seq", "序号"),
    ("name", "指标"),
    ("unit", "计量单位"),
    ("baseline", "基线值"),
    ("target_value", "目标值"),
]
EXPORT_EXTRA = [
    ("status", "督导状态"),
    ("state", "流程"),
    ("current_value", "当前值"),
    ("progress_pct", "进度%"),
]
REQUIRED = {"action", "code", "name", "indicator", "indicator_unit", "baseline", "target_value",
            "responsible_unit", "responsible_person", "starts_on", "due_on"}  # fmt: skip
KEY_RE = re.compile(r"\(([a-z_]+)\)\s*$")
MAX_ROWS = 20000


@dataclass
class RowError:
    sheet: str
    row: int
    column: str
    message: str


@dataclass
class Collected:
    errors: list[RowError] = field(default_factory=list)

    def add(self, sheet: str, row: int, column: str, message: str) -> None:
        self.errors.append(RowError(sheet, row, column, message))


def _header(key: str, label: str) -> str:
    return f"{label} ({key})"


def _write_sheet(ws: Any, columns: list[tuple[str, str]], rows: list[list[Any]]) -> None:
    ws.append([_header(k, label) for k, label in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="FDE68A")
    for row in rows:
        ws.append(row)
    for i, (_, label) in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(12, len(label) * 2 + 8)
    ws.freeze_panes = "A2"


def template(session: Session, *, programme: Programme, locale: str) -> bytes:
    """The workbook a district fills in: both sheets with one example row, instructions, codes."""
    wb = Workbook()
    ws = wb.active
    ws.title = TASK_SHEET
    actions = service.list_actions(session, programme=programme)
    example_action = actions[0].code if actions else "tf-yjnl"
    _write_sheet(
        ws,
        TASK_COLUMNS,
        [[example_action, "EX-001", "示例:老旧小区消防通道整治", "打通消防通道 12 处", "消防通道打通", "处",
          0, 12, "500107001000", "张三", date(programme.year, 3, 1), date(programme.year, 11, 30),
          106.512, 29.508, "", "一点一策:逐处制定清障方案"]],
    )  # fmt: skip
    _write_sheet(
        wb.create_sheet(MS_SHEET),
        MS_COLUMNS,
        [
            ["EX-001", 1, "摸排建档", date(programme.year, 4, 15), 20, "问题清单"],
            ["EX-001", 2, "集中整治", date(programme.year, 8, 31), 70, "整治台账"],
            ["EX-001", 3, "完成验收", date(programme.year, 11, 30), 100, "验收报告"],
        ],
    )
    _write_sheet(wb.create_sheet(IND_SHEET), IND_COLUMNS, [["EX-001", 2, "受益居民", "户", 0, 300]])
    help_ws = wb.create_sheet("说明")
    for line in translate("ledger.instructions", locale).split("\n"):
        help_ws.append([line])
    help_ws.column_dimensions["A"].width = 110
    codes = wb.create_sheet("代码表")
    codes.append(["行动编码 (action)", "行动名称", "", "单位编码 (unit)", "单位名称"])
    units = session.execute(
        select(Unit.code, Unit.name)
        .where(Unit.kind.in_([k.value for k in RESPONSIBLE_KINDS]))
        .order_by(Unit.sort_order, Unit.id)
    ).all()
    for i in range(max(len(actions), len(units))):
        a = actions[i] if i < len(actions) else None
        u = units[i] if i < len(units) else None
        codes.append(
            [a.code if a else None, a.name if a else None, None, u[0] if u else None, u[1] if u else None]
        )
    return _save(wb)


def _save(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- import ---------------------------------------------------------------------------------------


def _columns(ws: Any, expected: list[tuple[str, str]], sheet: str, ctx: _Ctx) -> dict[str, int]:
    header = next(ws.iter_rows(min_row=1, max_row=1, values_only=True), ())
    cols: dict[str, int] = {}
    for i, cell in enumerate(header):
        m = KEY_RE.search(str(cell or ""))
        if m:
            cols[m.group(1)] = i
    for key in (k for k, _ in expected):
        if key not in cols and (key in REQUIRED or sheet != TASK_SHEET):
            ctx.err(sheet, 1, key, "missing_column")
    return cols


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _cell_text(value).replace("/", "-").replace(".", "-")
    try:
        y, m, d = (int(p) for p in text.split("-"))
        return date(y, m, d)
    except ValueError:
        return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(_cell_text(value))
    except ValueError:
        return None


@dataclass
class _Ctx:
    session: Session
    principal: Principal
    programme: Programme
    locale: str
    found: Collected
    units: dict[str, Unit | None] = field(default_factory=dict)

    def err(self, sheet: str, row: int, key: str, msg_key: str, **params: Any) -> None:
        labels = dict({TASK_SHEET: TASK_COLUMNS, MS_SHEET: MS_COLUMNS}.get(sheet, IND_COLUMNS))
        message = translate(f"ledger.error.{msg_key}", self.locale, **params)
        self.found.add(sheet, row, _header(key, labels.get(key, key)), message)

    def unit(self, ref: str) -> Unit | None:
        if ref not in self.units:
            try:
                self.units[ref] = org.find_unit(self.session, ref=ref)
            except AppError:
                self.units[ref] = None
        return self.units[ref]


def _parse_task(
    ctx: _Ctx, row_no: int, get: Any, actions: dict[str, Any], seen: set[str]
) -> tuple[str, Any] | None:
    """One task row → (code, partial TaskInput kwargs); errors go to ``ctx``."""
    start = len(ctx.found.errors)
    values: dict[str, Any] = {}
    for key in REQUIRED:
        if not _cell_text(get(key)):
            ctx.err(TASK_SHEET, row_no, key, "required")
    code = _cell_text(get("code"))
    if code:
        if not service.CODE_RE.match(code):
            ctx.err(TASK_SHEET, row_no, "code", "code_invalid")
        elif code in seen:
            ctx.err(TASK_SHEET, row_no, "code", "code_repeated", code=code)
        seen.add(code)
    action = actions.get(_cell_text(get("action")))
    if _cell_text(get("action")) and action is None:
        ctx.err(TASK_SHEET, row_no, "action", "action_unknown", ref=_cell_text(get("action")))
    elif action is not None and not perm.leads(ctx.principal, action):
        ctx.err(TASK_SHEET, row_no, "action", "not_lead", ref=action.code)
    for key in ("baseline", "target_value", "lon", "lat"):
        if _cell_text(get(key)) and _as_float(get(key)) is None:
            ctx.err(TASK_SHEET, row_no, key, "number")
        values[key] = _as_float(get(key))
    if values["baseline"] is not None and values["baseline"] == values["target_value"]:
        ctx.err(TASK_SHEET, row_no, "target_value", "target_equals_baseline")
    for key in ("starts_on", "due_on"):
        values[key] = _as_date(get(key))
        if _cell_text(get(key)) and values[key] is None:
            ctx.err(TASK_SHEET, row_no, key, "date")
    if values["starts_on"] and values["due_on"] and values["due_on"] < values["starts_on"]:
        ctx.err(TASK_SHEET, row_no, "due_on", "dates_order")
    unit = ctx.unit(_cell_text(get("responsible_unit"))) if _cell_text(get("responsible_unit")) else None
    if _cell_text(get("responsible_unit")) and (unit is None or unit.kind not in RESPONSIBLE_KINDS):
        ctx.err(
            TASK_SHEET, row_no, "responsible_unit", "unit_unknown", ref=_cell_text(get("responsible_unit"))
        )
        unit = None
    person = _person(ctx, row_no, unit, _cell_text(get("responsible_person")))
    place = _place(ctx, row_no, values, _cell_text(get("place")))
    if len(ctx.found.errors) > start or action is None or unit is None or person is None:
        return None
    return code, {
        "action": action,
        "data": dict(
            code=code,
            name=_cell_text(get("name")),
            target=_cell_text(get("target")) or None,
            indicator=_cell_text(get("indicator")),
            indicator_unit=_cell_text(get("indicator_unit")),
            baseline=values["baseline"],
            target_value=values["target_value"],
            responsible_unit=unit,
            responsible_person=person,
            starts_on=values["starts_on"],
            due_on=values["due_on"],
            place=place,
            site_plan=_cell_text(get("site_plan")) or None,
        ),
        "row": row_no,
    }


def _person(ctx: _Ctx, row_no: int, unit: Unit | None, name: str) -> Person | None:
    if unit is None or not name:
        return None
    try:
        return service.find_person(ctx.session, ref=name, unit=unit)
    except AppError:
        ctx.err(TASK_SHEET, row_no, "responsible_person", "person_unknown", name=name, unit=unit.name)
        return None


def _place(ctx: _Ctx, row_no: int, values: dict[str, Any], text: str) -> dict[str, Any] | None:
    if text:
        try:
            place = json.loads(text)
            plans.check_place(place)
            return place if isinstance(place, dict) else None
        except (ValueError, AppError):
            ctx.err(TASK_SHEET, row_no, "place", "place")
            return None
    lon, lat = values.get("lon"), values.get("lat")
    if (lon is None) != (lat is None):
        ctx.err(TASK_SHEET, row_no, "lat" if lat is None else "lon", "lonlat_pair")
        return None
    if lon is None:
        return None
    if lat is None or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        ctx.err(TASK_SHEET, row_no, "lon", "lonlat_range")
        return None
    return {"type": "Point", "coordinates": [lon, lat]}


def _sheet_rows(ws: Any, cols: dict[str, int]) -> Iterator[tuple[int, Callable[[str], Any]]]:
    """The non-blank data rows of a sheet (from row 2): the row number and a reader by column key
    (None for a column the sheet lacks or a short row)."""
    for row_no, raw in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
        row = clean_row(raw)
        if not any(_cell_text(v) for v in row):
            continue

        def get(key: str, row: Any = row) -> Any:
            return row[cols[key]] if key in cols and cols[key] < len(row) else None

        yield row_no, get


def _passes(ctx: _Ctx, sheet: str, row_no: int, code: str, checks: list[tuple[str, bool, str]]) -> bool:
    """Record every failed check of a row (key, ok, message key); whether all passed."""
    failed = [(key, msg_key) for key, ok, msg_key in checks if not ok]
    for key, msg_key in failed:
        ctx.err(sheet, row_no, key, msg_key, code=code)
    return not failed


def _parse_milestones(
    ctx: _Ctx, ws: Any, tasks: dict[str, Any], task_codes: set[str]
) -> dict[str, list[tuple[int, int, MilestoneInput]]]:
    cols = _columns(ws, MS_COLUMNS, MS_SHEET, ctx)
    out: dict[str, list[tuple[int, int, MilestoneInput]]] = defaultdict(list)
    if ctx.found.errors and any(e.sheet == MS_SHEET and e.row == 1 for e in ctx.found.errors):
        return out
    for row_no, get in _sheet_rows(ws, cols):
        code = _cell_text(get("task"))
        seq, due, pct = _as_float(get("seq")), _as_date(get("due_on")), _as_float(get("planned_pct"))
        checks = [
            ("task", code in task_codes, "task_unknown" if code else "required"),
            ("seq", seq is not None, "number" if _cell_text(get("seq")) else "required"),
            ("name", bool(_cell_text(get("name"))), "required"),
            ("due_on", due is not None, "date" if _cell_text(get("due_on")) else "required"),
            ("planned_pct", pct is not None, "number" if _cell_text(get("planned_pct")) else "required"),
        ]
        if (
            _passes(ctx, MS_SHEET, row_no, code, checks)
            and code in tasks
            and due is not None
            and pct is not None
        ):
            ms = MilestoneInput(
                name=_cell_text(get("name")),
                due_on=due,
                planned_pct=pct,
                deliverable=_cell_text(get("deliverable")) or None,
            )
            out[code].append((int(seq or 0), row_no, ms))
    return out


def _parse_indicators(
    ctx: _Ctx, ws: Any, tasks: dict[str, Any], task_codes: set[str]
) -> dict[str, list[tuple[int, int, plans.IndicatorInput]]]:
    """The optional indicator sheet: rows by task code, checked like the task sheet's numbers."""
    cols = _columns(ws, IND_COLUMNS, IND_SHEET, ctx)
    out: dict[str, list[tuple[int, int, plans.IndicatorInput]]] = defaultdict(list)
    if any(e.sheet == IND_SHEET and e.row == 1 for e in ctx.found.errors):
        return out
    for row_no, get in _sheet_rows(ws, cols):
        code = _cell_text(get("task"))
        seq, base, target = _as_float(get("seq")), _as_float(get("baseline")), _as_float(get("target_value"))
        checks = [
            ("task", code in task_codes, "task_unknown" if code else "required"),
            ("seq", seq is not None and seq >= 2, "indicator_seq" if _cell_text(get("seq")) else "required"),
            ("name", bool(_cell_text(get("name"))), "required"),
            ("unit", bool(_cell_text(get("unit"))), "required"),
            ("baseline", base is not None, "number" if _cell_text(get("baseline")) else "required"),
            ("target_value", target is not None, "number" if _cell_text(get("target_value")) else "required"),
        ]
        ok = _passes(ctx, IND_SHEET, row_no, code, checks)
        if ok and code in tasks and base is not None and target is not None:
            ind = plans.IndicatorInput(_cell_text(get("name")), _cell_text(get("unit")), base, target)
            out[code].append((int(seq or 0), row_no, ind))
    for code, rows in out.items():
        rows.sort(key=lambda r: r[0])
        entry = tasks[code]
        seqs = [r[0] for r in rows]
        if len(set(seqs)) != len(seqs):
            ctx.err(IND_SHEET, rows[0][1], "seq", "indicator_seq", code=code)
            continue
        try:
            plans.check_indicators(entry["data"]["indicator"], [r[2] for r in rows])
        except ValidationFailed as exc:
            field_name = str(exc.params.get("field", ""))
            parts = field_name.split(".")
            sheet_row = parse_int(parts[1], lo=2, hi=1_000_000) if len(parts) > 1 else None
            index = sheet_row - 2 if sheet_row is not None else 0
            column = {"target_value": "target_value"}.get(parts[-1], "name")
            ctx.found.add(
                IND_SHEET,
                rows[min(index, len(rows) - 1)][1],
                _header(column, dict(IND_COLUMNS)[column]),
                exc.message(ctx.locale),
            )
            continue
        entry["data"]["indicators"] = [r[2] for r in rows]
    return out


def _check_plans(
    ctx: _Ctx, tasks: dict[str, Any], by_task: dict[str, list[tuple[int, int, MilestoneInput]]]
) -> None:
    for code, entry in tasks.items():
        rows = sorted(by_task.get(code, []), key=lambda r: r[0])
        if not rows:
            ctx.err(TASK_SHEET, entry["row"], "code", "no_milestones", code=code)
            continue
        data = entry["data"]
        try:
            plans.check_milestones([r[2] for r in rows], starts_on=data["starts_on"], due_on=data["due_on"])
        except ValidationFailed as exc:
            field_name = str(exc.params.get("field", ""))
            seq = int(exc.params.get("seq", len(rows)) or len(rows))
            column = {"due_on": "due_on", "planned_pct": "planned_pct", "name": "name"}.get(
                field_name.rsplit(".", 1)[-1], "planned_pct"
            )
            ms_row = rows[min(seq, len(rows)) - 1][1]
            ctx.found.add(
                MS_SHEET, ms_row, _header(column, dict(MS_COLUMNS)[column]), exc.message(ctx.locale)
            )
        entry["milestones"] = [r[2] for r in rows]


def import_ledger(
    session: Session, *, principal: Principal, programme: Programme, content: bytes, locale: str
) -> dict[str, int]:
    """Validate every row of both sheets; import all tasks, or raise with every error found."""
    principal.require(perm.PLAN)
    found = Collected()
    ctx = _Ctx(session, principal, programme, locale, found)
    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/ValueError for non-workbooks
        raise ValidationFailed("error.programme.import_not_xlsx", field="file") from exc
    if TASK_SHEET not in wb.sheetnames or MS_SHEET not in wb.sheetnames:
        raise ValidationFailed("error.programme.import_sheets", sheets=f"{TASK_SHEET}, {MS_SHEET}")
    ws = wb[TASK_SHEET]
    cols = _columns(ws, TASK_COLUMNS, TASK_SHEET, ctx)
    actions = {a.code: a for a in service.list_actions(session, programme=programme)}
    existing = set(session.execute(select(Task.code).where(Task.programme_id == programme.id)).scalars())
    tasks: dict[str, Any] = {}
    seen: set[str] = set()
    if not found.errors:
        for row_no, raw in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
            row = clean_row(raw)
            if row_no > MAX_ROWS:
                raise ValidationFailed("error.programme.import_too_many", limit=MAX_ROWS)
            if not any(_cell_text(v) for v in row):
                continue

            def get(key: str, row: Any = row) -> Any:
                return row[cols[key]] if key in cols and cols[key] < len(row) else None

            parsed = _parse_task(ctx, row_no, get, actions, seen)
            code = _cell_text(get("code"))
            if code in existing:
                ctx.err(TASK_SHEET, row_no, "code", "code_taken", code=code)
            elif parsed is not None:
                tasks[parsed[0]] = parsed[1]
    by_task = _parse_milestones(ctx, wb[MS_SHEET], tasks, seen)
    _check_plans(ctx, tasks, by_task)
    if IND_SHEET in wb.sheetnames:
        _parse_indicators(ctx, wb[IND_SHEET], tasks, seen)
    if not seen and not found.errors:
        found.add(TASK_SHEET, 2, _header("code", "任务编码"), translate("ledger.error.empty", locale))
    if found.errors:
        order = {TASK_SHEET: 0, MS_SHEET: 1, IND_SHEET: 2}
        errors = sorted(found.errors, key=lambda e: (order.get(e.sheet, 3), e.row, e.column))
        raise ValidationFailed(
            "error.programme.import_failed",
            details={"errors": [e.__dict__ for e in errors]},
            count=len(errors),
        )
    milestones = 0
    for entry in tasks.values():
        data = TaskInput(**entry["data"], milestones=entry["milestones"])
        service.create_task(session, actor=principal, principal=principal, action=entry["action"], data=data)
        milestones += len(entry["milestones"])
    return {"tasks": len(tasks), "milestones": milestones}


# --- export ---------------------------------------------------------------------------------------


def export(session: Session, *, principal: Principal, programme: Programme, locale: str) -> bytes:
    """The ledger as the principal sees it, in the template's layout plus status columns."""
    tasks, _ = service.list_tasks(
        session, principal=principal, query=service.TaskQuery(programme_id=programme.id, limit=10**6)
    )
    wb = Workbook()
    ws = wb.active
    ws.title = TASK_SHEET
    rows, ms_rows, ind_rows = [], [], []
    for t in tasks:
        place = "" if t.place_kind in (None, "Point") else json.dumps(t.place, ensure_ascii=False)
        plan = [
            t.action.code,
            t.code,
            t.name,
            t.target,
            t.indicator,
            t.indicator_unit,
            t.baseline,
            t.target_value,
        ]
        who = [t.responsible_unit.code, t.responsible_person.name, t.starts_on, t.due_on]
        where = [t.lon, t.lat, place, t.site_plan]
        now_ = [translate(f"status.{t.status}", locale), translate(f"state.{t.state}", locale)]
        rows.append([*plan, *who, *where, *now_, t.current_value, t.progress_pct])
        for m in t.milestones:
            ms_rows.append([t.code, m.seq, m.name, m.due_on, m.planned_pct, m.deliverable, m.done_on])
        for i in t.extra_indicators:
            ind_rows.append([t.code, i.seq, i.name, i.unit, i.baseline, i.target_value, i.current_value])
    _write_sheet(ws, TASK_COLUMNS + EXPORT_EXTRA, rows)
    _write_sheet(wb.create_sheet(MS_SHEET), [*MS_COLUMNS, ("done_on", "完成日期")], ms_rows)
    _write_sheet(wb.create_sheet(IND_SHEET), [*IND_COLUMNS, ("current_value", "当前值")], ind_rows)
    return _save(wb)
