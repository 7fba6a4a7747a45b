"""The twin CLI: import, impact --json, simulate; bad input exits 2 with one line naming the problem."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from typer.testing import CliRunner

from cityloop.cases.models import Case
from cityloop.cli import app
from cityloop.twin.models import CaseRequest, Element, Network, Reading, TwinWarning
from tests.twin.conftest import net_path

runner = CliRunner()


def test_import_then_impact_json(db, tmp_path) -> None:
    r = runner.invoke(
        app,
        ["twin", "import", "--kind", "water", "--inp", str(net_path("Net1")), "--name", "n1",
         "--origin", "106.5,29.5", "--scale", "5"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "imported n1 v1" in r.output and "generated-strategic-N-1" in r.output
    plan = runner.invoke(app, ["twin", "impact", "--network", "n1", "--pipe", "12", "--json"])
    assert plan.exit_code == 0, plan.output
    body = json.loads(plan.stdout)
    assert body["pipe"] == "12" and body["valves"] and body["customers_cut_off"]


def test_bad_model_is_one_line_exit_2_and_nothing_imported(db, tmp_path) -> None:
    bad = tmp_path / "bad.inp"
    bad.write_text(net_path("Net1").read_text().replace("10530", "-10530", 1))
    before = db.scalar(select(func.count()).select_from(Element))
    args = ["--inp", str(bad), "--name", "bad", "--origin", "106.5,29.5", "--scale", "5"]
    r = runner.invoke(app, ["twin", "import", "--kind", "water", *args])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "error:" in lines[0] and "PIPES" in lines[0] and "length" in lines[0]
    assert db.scalar(select(func.count()).select_from(Element)) == before
    assert db.scalar(select(Network).where(Network.name == "bad")) is None
    missing = runner.invoke(
        app, ["twin", "import", "--kind", "water", "--inp", str(net_path("Net1")), "--name", "x"]
    )
    assert missing.exit_code == 2 and "--origin" in missing.output


def test_simulate_leak_on_the_demo_network_opens_warnings_and_cases(db) -> None:
    r = runner.invoke(app, ["twin", "simulate", "--scenario", "leak", "--minutes", "20"])
    assert r.exit_code == 0, r.output
    assert db.scalar(select(func.count()).select_from(Reading)) > 0
    causes = set(db.scalars(select(TwinWarning.cause).where(TwinWarning.sensor.has(code="W-P-153"))).all())
    assert "low" in causes
    # The worker wires the real bridge: warnings become cases in the unified queue (issue #6).
    sensor_cases = db.scalars(select(Case).where(Case.source_ref.like("twin-warning:%"))).all()
    assert sensor_cases and {c.unit.code for c in sensor_cases} == {"util-water"}
    assert db.scalar(select(func.count()).select_from(CaseRequest)) == 0
