"""Categories as data: the demo set, the standard's CSV, and the CLI import."""

from sqlalchemy import func, select
from typer.testing import CliRunner

from cityloop.cases import categories
from cityloop.cases.models import Category
from cityloop.cli import app
from tests.conftest import shared_path

runner = CliRunner()


def _count(db) -> int:
    return db.scalar(select(func.count()).select_from(Category))


def test_the_demo_set_covers_both_kinds_with_handlers_and_deadlines(db) -> None:
    cats = categories.list_categories(db)
    assert {c.kind for c in cats} == {"component", "event"}
    assert {c.handler for c in cats} == {"department", "street", "enforcement", "manual"}
    manhole = categories.get_by_code(db, code="BJ0101")
    assert (
        manhole.name == "上水井盖" and manhole.major_name == "公用设施类" and manhole.scheme == "CJT214-2007"
    )
    assert manhole.deadlines["normal"]["handle_hours"] == 6 and set(manhole.deadlines) == {
        "normal",
        "urgent",
        "emergency",
    }


def test_import_the_standards_csv(db) -> None:
    path = shared_path("data", "standards", "case_taxonomy.csv")
    before = _count(db)
    r = runner.invoke(app, ["cases", "import-categories", str(path)])
    assert r.exit_code == 0, r.output
    assert "created" in r.output
    added = _count(db) - before
    assert added > 300  # CJ/T 214 leaves not in the demo set, the GB/T 30428.2 partial list and GB/T 47678.5
    # Same minor code, two schemes: both kept, told apart by the scheme.
    a = categories.get_by_code(db, code="SJ0401")
    b = categories.get_by_code(db, code="SJ0401@GBT30428.2-2013")
    assert (a.name, b.name) == ("路面塌陷", "无照经营游商")
    assert categories.get_by_code(db, code="SJ06019@GBT47678.5-2026").name == "非装饰性吊挂"
    assert categories.get_by_code(db, code="SJ0501").handler == "enforcement"  # 街面秩序 default
    # Idempotent: a second run changes nothing.
    again = runner.invoke(app, ["cases", "import-categories", str(path)])
    assert again.exit_code == 0 and "0 created, 0 updated" in again.output
    assert _count(db) - before == added


def test_an_admins_settings_survive_a_reimport_unless_the_file_states_them(db, tmp_path) -> None:
    f = tmp_path / "cats.csv"
    f.write_text(
        "kind,major_code,major_name,minor_code,minor_name,source,handler,handler_unit,handle_hours\n"
        "事件,01,市容环境,0102,暴露垃圾,CJT214-2007,,,\n"
        "事件,01,市容环境,0104,道路不洁,CJT214-2007,department,dept-cgj,3\n",
        encoding="utf-8",
    )
    assert runner.invoke(app, ["cases", "import-categories", str(f)]).exit_code == 0
    db.expire_all()
    assert categories.get_by_code(db, code="SJ0102").handler == "street"  # kept
    road = categories.get_by_code(db, code="SJ0104")
    assert road.handler == "department" and road.handler_unit == "dept-cgj"
    assert road.deadlines["normal"]["handle_hours"] == 3


def test_a_bad_csv_exits_2_with_one_line_and_changes_nothing(db, tmp_path) -> None:
    before = _count(db)
    f = tmp_path / "bad.csv"
    f.write_text(
        "kind,major_code,major_name,minor_code,minor_name\n事件,07,新类,0701,甲\n物件,07,新类,0702,乙\n",
        encoding="utf-8",
    )
    r = runner.invoke(app, ["cases", "import-categories", str(f)])
    assert r.exit_code == 2 and "line 3" in r.output and len(r.output.strip().splitlines()) == 1
    missing = tmp_path / "cols.csv"
    missing.write_text("kind,name\n事件,甲\n", encoding="utf-8")
    r = runner.invoke(app, ["cases", "import-categories", str(missing)])
    assert r.exit_code == 2 and "major_code" in r.output
    assert _count(db) == before
