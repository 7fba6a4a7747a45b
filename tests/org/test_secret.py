"""No known secret, ever: ``init`` writes a random owner-only secret and keeps it; ``serve`` refuses a
missing, short or published one with one line and exit status 2."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cityloop.cli import app
from cityloop.config import get_settings
from tests.conftest import ROOT

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template_db: str) -> Iterator[Path]:
    """Settings as on a fresh install: no CITYLOOP_SECRET_KEY, an empty data directory."""
    folder = tmp_path / "data"
    monkeypatch.delenv("CITYLOOP_SECRET_KEY", raising=False)
    monkeypatch.setenv("CITYLOOP_DATA_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Should a check wrongly pass, fail the test instead of serving forever."""
    import uvicorn

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("serve started with a secret it should have refused")

    monkeypatch.setattr(uvicorn, "run", refuse)


def test_init_writes_an_owner_only_random_secret_and_keeps_it(data_dir: Path) -> None:
    first = runner.invoke(app, ["init"])
    assert first.exit_code == 0, first.output
    secret_file = data_dir / "secret_key"
    assert "written, owner-only" in first.stdout and str(secret_file) in first.stdout
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    value = secret_file.read_text().strip()
    assert len(value) >= 32 and len(set(value)) > 20
    again = runner.invoke(app, ["init"])
    assert again.exit_code == 0 and "kept" in again.stdout
    assert secret_file.read_text().strip() == value
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.secret_key == value and settings.secret_source == "file"
    from cityloop.core import secretkey

    assert secretkey.problem(settings) is None


def test_init_leaves_a_secret_from_the_environment_alone(data_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("CITYLOOP_SECRET_KEY", "x" * 8 + os.urandom(24).hex())
    get_settings.cache_clear()
    r = runner.invoke(app, ["init"])
    assert r.exit_code == 0 and "from CITYLOOP_SECRET_KEY" in r.stdout
    assert not (data_dir / "secret_key").exists()


@pytest.mark.parametrize(
    "secret, fragment",
    [
        ("change-me-this-is-the-demo-secret", "published example value"),
        ("test-secret-key", "published example value"),
        ("CHANGE-ME-please-change-me-please-change-me", "published example value"),
        ("short-but-random-8Zq", "too weak (20 characters"),
        ("a" * 40, "too weak"),
        ("", "No secret key: run `cityloop init`"),
    ],
    ids=["old-default", "old-test-default", "placeholder", "short", "one-letter", "missing"],
)
def test_serve_refuses_a_weak_or_published_secret(data_dir, monkeypatch, no_server, secret, fragment) -> None:
    if secret:
        monkeypatch.setenv("CITYLOOP_SECRET_KEY", secret)
    get_settings.cache_clear()
    r = runner.invoke(app, ["serve"], env={"CITYLOOP_CLI_LANG": "en"})
    assert r.exit_code == 2
    assert fragment in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_serve_refuses_a_secret_file_others_can_read(data_dir, no_server) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    (data_dir / "secret_key").chmod(0o644)
    get_settings.cache_clear()
    r = runner.invoke(app, ["serve"], env={"CITYLOOP_CLI_LANG": "en"})
    assert r.exit_code == 2 and "chmod 600" in r.output and len(r.output.strip().splitlines()) == 1


def test_the_real_command_prints_one_line_and_exits_2(data_dir: Path) -> None:
    env = {
        **os.environ,
        "CITYLOOP_SECRET_KEY": "change-me-this-is-the-demo-secret",
        "CITYLOOP_CLI_LANG": "zh",
        "PYTHONPATH": str(ROOT / "src"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "cityloop", "serve", "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "公开的示例值" in done.stderr, done.stderr
    assert done.stdout == ""


def test_the_app_itself_refuses_a_published_secret(monkeypatch) -> None:
    from cityloop.app import create_app

    monkeypatch.setenv("CITYLOOP_SECRET_KEY", "change-me-this-is-the-demo-secret")
    get_settings.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="published example value"):
            create_app()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
