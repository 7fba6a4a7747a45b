"""Excel ledgers: the template the platform provides, an all-or-nothing import that lists every
error by sheet, row and column, and the export."""

import io
import re

from openpyxl import load_workbook
from sqlalchemy import func, select

from cityloop.programme.models import Milestone, Task
from tests.org.test_web_auth import sign_in
from tests.programme.conftest import person_in

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def template(client, headers):
    r = client.get("/api/v1/programme/ledger/template.xlsx", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == XLSX
    return load_workbook(io.BytesIO(r.content))


def columns(ws):
    return {re.search(r"\(([a-z_]+)\)", str(c.value)).group(1): c.column for c in ws[1] if c.value}


def fill(wb, tasks, milestones, indicators=()):
    """Replace the example rows with ``tasks``, ``milestones`` and further ``indicators`` (dicts keyed
    by column key)."""
    for name, rows in (("任务清单", tasks), ("里程碑", milestones), ("其他指标", indicators)):
        ws = wb[name]
        ws.delete_rows(2, ws.max_row)
        cols = columns(ws)
        for i, row in enumerate(rows, start=2):
            for key, value in row.items():
                ws.cell(row=i, column=cols[key], value=value)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def task_row(code, **over):
    row = {
        "action": "CWZL", "code": code, "name": f"导入任务{code}", "indicator": "拆除面积",
        "indicator_unit": "m²", "baseline": 0, "target_value": 500, "responsible_unit": "500107001000",
        "responsible_person": "李导入", "starts_on": "2026-03-01", "due_on": "2026-10-31",
        "lon": 106.512, "lat": 29.508,
    }  # fmt: skip
    row.update(over)
    return row


def ms_rows(code, dates=("2026-05-31", "2026-10-31")):
    return [
        {
            "task": code,
            "seq": i,
            "name": f"阶段{i}",
            "due_on": d,
            "planned_pct": 100 if i == len(dates) else 50,
        }
        for i, d in enumerate(dates, start=1)
    ]


def imported(db):
    return db.scalar(select(func.count()).select_from(Task)), db.scalar(
        select(func.count()).select_from(Milestone)
    )


def post(client, headers, content):
    return client.post(
        "/api/v1/programme/ledger/import", headers=headers, files={"file": ("台账.xlsx", content, XLSX)}
    )


def test_template_has_both_sheets_instructions_and_codes(client, token_for) -> None:
    wb = template(client, token_for("street"))
    assert wb.sheetnames == ["任务清单", "里程碑", "其他指标", "说明", "代码表"]
    assert set(columns(wb["其他指标"])) == {"task", "seq", "name", "unit", "baseline", "target_value"}
    assert {"action", "code", "responsible_unit", "responsible_person", "lon", "lat", "site_plan"} <= set(
        columns(wb["任务清单"])
    )
    codes = {c.value for c in wb["代码表"]["A"]}
    assert {"YJNL", "SHQ", "CWZL"} <= codes


def test_a_good_ledger_is_imported_whole(client, token_for, db) -> None:
    person_in(db, "500107001000", "李导入")
    db.commit()
    h = token_for("supervisor")
    content = fill(
        template(client, h),
        [task_row("IMP-1"), task_row("IMP-2", action="KZFX", site_plan="一点一策:分段入地")],
        ms_rows("IMP-1") + ms_rows("IMP-2", ("2026-04-30", "2026-07-31", "2026-10-31")),
    )
    before = imported(db)
    r = post(client, h, content)
    assert r.status_code == 201, r.text
    assert r.json() == {"tasks": 2, "milestones": 5}
    assert imported(db) == (before[0] + 2, before[1] + 5)
    task = db.scalar(select(Task).where(Task.code == "IMP-2"))
    assert task.action.code == "KZFX" and task.site_plan and task.place_kind == "Point"
    assert [m.planned_pct for m in task.milestones] == [50, 50, 100]


def test_any_wrong_row_imports_nothing_and_every_error_is_listed(client, token_for, db) -> None:
    person_in(db, "500107001000", "李导入")
    db.commit()
    h = token_for("supervisor")
    tasks = [
        task_row("BAD-1"),  # fine on its own
        task_row("BAD-2", due_on="2026-13-40"),  # row 3: not a date
        task_row("BAD-3", responsible_unit="no-such-unit"),  # row 4
        task_row("BAD-4", responsible_person="查无此人", target_value=0),  # row 5: two errors
        task_row("BAD-1"),  # row 6: repeated code
    ]
    milestones = (
        ms_rows("BAD-1")
        + ms_rows("BAD-4")
        + [
            {
                "task": "BAD-9",
                "seq": 1,
                "name": "x",
                "due_on": "2026-05-01",
                "planned_pct": 100,
            },  # unknown task
        ]
    )
    milestones[1]["due_on"] = "2026-04-01"  # BAD-1's second milestone before its first
    before = imported(db)
    r = post(client, h, fill(template(client, h), tasks, milestones))
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["message"].startswith("导入失败:发现") and "未导入任何数据" in err["message"]
    found = {(e["sheet"], e["row"], e["column"].split(" (")[1].rstrip(")")) for e in err["details"]["errors"]}
    assert found >= {
        ("任务清单", 3, "due_on"),
        ("任务清单", 4, "responsible_unit"),
        ("任务清单", 5, "responsible_person"),
        ("任务清单", 5, "target_value"),
        ("任务清单", 6, "code"),
        ("里程碑", 3, "due_on"),
        ("里程碑", 6, "task"),
    }
    order = next(e for e in err["details"]["errors"] if e["sheet"] == "里程碑" and e["row"] == 3)
    assert "里程碑日期顺序错误" in order["message"]
    assert imported(db) == before
    # The same errors in English for an English reader.
    r = post(client, {**h, "Accept-Language": "en"}, fill(template(client, h), tasks, milestones))
    assert any(e["message"] == "Dates look like 2026-03-01" for e in r.json()["error"]["details"]["errors"])


def test_exported_ledger_reimports_only_as_a_conflict(client, token_for, db) -> None:
    h = token_for("department")
    exported = client.get("/api/v1/programme/ledger.xlsx", headers=h)
    wb = load_workbook(io.BytesIO(exported.content))
    rows = wb["任务清单"].max_row - 1
    assert rows > 0 and "status" in columns(wb["任务清单"])
    before = imported(db)
    r = post(client, h, exported.content)
    assert r.status_code == 422
    taken = [e for e in r.json()["error"]["details"]["errors"] if e["message"].endswith("已存在")]
    assert len(taken) == rows and imported(db) == before


def test_a_department_imports_only_into_actions_it_leads(client, token_for, db) -> None:
    person_in(db, "500107001000", "李导入")
    db.commit()
    h = token_for("department")
    content = fill(template(client, h), [task_row("DEP-1", action="NJAJ")], ms_rows("DEP-1"))
    r = post(client, h, content)
    assert r.status_code == 422
    assert r.json()["error"]["details"]["errors"][0]["message"] == "您不牵头行动 NJAJ,不能为其导入任务"


def test_the_import_page_lists_errors_and_then_succeeds(client, token_for, db) -> None:
    person_in(db, "500107001000", "李导入")
    db.commit()
    wb_bytes = client.get("/api/v1/programme/ledger/template.xlsx", headers=token_for("supervisor")).content
    sign_in(client, "supervisor")
    page = client.get("/programme/ledger")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    bad = fill(load_workbook(io.BytesIO(wb_bytes)), [task_row("WEB-1", lat=None)], ms_rows("WEB-1"))
    r = client.post("/programme/ledger", data={"csrf": csrf}, files={"file": ("a.xlsx", bad, XLSX)})
    assert r.status_code == 422 and 'id="import-errors"' in r.text and "经度和纬度须同时填写" in r.text
    good = fill(load_workbook(io.BytesIO(wb_bytes)), [task_row("WEB-1")], ms_rows("WEB-1"))
    r = client.post("/programme/ledger", data={"csrf": csrf}, files={"file": ("a.xlsx", good, XLSX)})
    assert r.status_code == 200 and "已导入 1 项任务、2 个里程碑" in r.text
    r = client.post(
        "/programme/ledger", data={"csrf": csrf}, files={"file": ("a.txt", b"not excel", "text/plain")}
    )
    assert r.status_code == 422 and "请上传 Excel" in r.text


def test_further_indicators_come_in_and_go_out_on_their_own_sheet(client, token_for, db) -> None:
    person_in(db, "500107001000", "李导入")
    db.commit()
    h = token_for("supervisor")
    good = {"task": "IND-1", "seq": 2, "name": "受益居民", "unit": "户", "baseline": 0, "target_value": 300}
    before = imported(db)
    bad = fill(
        template(client, h),
        [task_row("IND-1")],
        ms_rows("IND-1"),
        [good, {**good, "seq": 3, "name": "拆除面积"}, {**good, "task": "NOPE", "seq": 4, "name": "x"}],
    )
    r = post(client, h, bad)
    assert r.status_code == 422, r.text
    errors = r.json()["error"]["details"]["errors"]
    assert {(e["sheet"], e["row"]) for e in errors} == {("其他指标", 3), ("其他指标", 4)}
    assert imported(db) == before
    r = post(client, h, fill(template(client, h), [task_row("IND-1")], ms_rows("IND-1"), [good]))
    assert r.status_code == 201, r.text
    task = db.scalar(select(Task).where(Task.code == "IND-1"))
    assert [(i.seq, i.name, i.target_value) for i in task.extra_indicators] == [(2, "受益居民", 300)]
    out = client.get("/api/v1/programme/ledger.xlsx", headers=h)
    wb = load_workbook(io.BytesIO(out.content))
    rows = [[c.value for c in row] for row in wb["其他指标"].iter_rows(min_row=2)]
    assert ["IND-1", 2, "受益居民", "户", 0, 300, 0] in rows
