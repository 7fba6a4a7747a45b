"""``cityloop programme …`` from the shell, and the worker knows the supervision job."""

from typer.testing import CliRunner

from cityloop.cli import app
from cityloop.worker import runner

cli = CliRunner()


def test_worker_registers_the_supervision_scan() -> None:
    assert "programme.supervision" in runner.jobs()


def test_scan_and_evaluate_from_the_shell(db) -> None:
    result = cli.invoke(app, ["programme", "scan"])
    assert result.exit_code == 0 and "'tasks':" in result.output
    result = cli.invoke(app, ["programme", "evaluate", "--month", "2026-06"])
    assert result.exit_code == 0 and "杨家坪街道" in result.output
    result = cli.invoke(app, ["programme", "evaluate", "--month", "June"])
    assert result.exit_code == 2 and "error:" in result.output


def test_template_and_a_failing_import_from_the_shell(db, tmp_path) -> None:
    out = tmp_path / "template.xlsx"
    assert cli.invoke(app, ["programme", "template", str(out)]).exit_code == 0
    # The template's example row names a person who does not exist: every error is printed, exit 2.
    result = cli.invoke(app, ["programme", "import-ledger", str(out)])
    assert result.exit_code == 2
    assert "任务清单 row 2 [责任人 (responsible_person)]" in result.output
    export = tmp_path / "ledger.xlsx"
    result = cli.invoke(app, ["programme", "export-ledger", str(export), "--as", "street"])
    assert result.exit_code == 0 and export.stat().st_size > 1000
