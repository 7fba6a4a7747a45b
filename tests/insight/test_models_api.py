"""Classifier versions: listed with the active one (API and admin page), activated by administrators,
retrained from closed cases; the CLI trains from the database and activates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cityloop.cli import app


@pytest.mark.parametrize(
    ("username", "status"),
    [("admin", 200), ("dispatcher", 200), ("supervisor", 200), ("street", 403), ("citizen", 403)],
)
def test_models_read_scope(client: Any, token_for: Any, username: str, status: int) -> None:
    r = client.get("/api/v1/insight/models", headers=token_for(username))
    assert r.status_code == status
    if status == 200:
        assert r.json()["active_version"] == 0  # keyword rules until a version is activated


@pytest.mark.parametrize(("username", "status"), [("dispatcher", 403), ("supervisor", 403), ("citizen", 403)])
def test_only_admins_activate_or_retrain(client: Any, token_for: Any, username: str, status: int) -> None:
    h = token_for(username)
    assert (
        client.post("/api/v1/insight/models/activate", headers=h, json={"version": 0}).status_code == status
    )
    assert client.post("/api/v1/insight/models/retrain", headers=h, json={}).status_code == status


def test_retrain_from_closed_cases_then_activate_shows_it(client: Any, token_for: Any) -> None:
    h = token_for("admin")
    r = client.post("/api/v1/insight/models/retrain", headers=h, json={"activate": False})
    assert r.status_code == 201, r.text
    version = r.json()["version"]
    assert r.json()["source"] == "db:closed-cases" and r.json()["active"] is False
    assert r.json()["metrics"]["labelled"] > 100
    r = client.post("/api/v1/insight/models/activate", headers=h, json={"version": version})
    assert r.status_code == 200 and r.json()["active_version"] == version
    assert client.post("/api/v1/insight/models/activate", headers=h, json={"version": 999}).status_code == 404
    page = client.get("/insight/models", headers=h)
    assert page.status_code == 200 and f"v{version}" in page.text


def test_cli_trains_from_the_database_and_activates(live_db: str, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "m.zip"
    r = runner.invoke(app, ["classifier", "train", "--from-db", "--out", str(out), "--activate"])
    assert r.exit_code == 0, r.output
    assert out.is_file() and "version 1 (active)" in r.output
    r = runner.invoke(app, ["classifier", "models"])
    assert r.exit_code == 0 and r.output.startswith("* 1")
    r = runner.invoke(app, ["classifier", "activate", "0"])
    assert r.exit_code == 0 and "keyword rules" in r.output
    r = runner.invoke(app, ["classifier", "activate", "7"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1


def test_cli_refuses_both_or_neither_source(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["classifier", "train", "--out", str(tmp_path / "m.zip")])
    assert r.exit_code == 2 and not (tmp_path / "m.zip").exists()
