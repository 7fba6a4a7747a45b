"""A real server process on a private database copy, and Chromium driven by Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, copy_database

CHROMIUM = Path("/usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(database_url: str, **env: str) -> Iterator[str]:
    """``cityloop serve`` on ``database_url`` (extra ``CITYLOOP_…`` settings in ``env``); yields its URL."""
    port = _free_port()
    # PYTHONPATH: the server must run this checkout's code, not whatever cityloop is installed.
    full_env = {**os.environ, "CITYLOOP_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT / "src"), **env}
    # The log goes to a file: a pipe nobody reads fills up after a few hundred requests and stalls the server.
    log = tempfile.TemporaryFile()  # noqa: SIM115 (open as long as the server runs; closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityloop", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # generous: CI machines can be loaded
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        log.seek(0)
        raise RuntimeError("server did not start: " + log.read().decode(errors="replace"))
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def live_server(template_db: str) -> Iterator[str]:
    with running_server(copy_database(template_db)) as base:
        yield base


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: install Debian's chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-gpu",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 860})
    p = context.new_page()
    p.set_default_timeout(15000)
    yield p
    context.close()


def sign_in(page: Any, base: str, username: str, password: str = "cityloop-demo") -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


@pytest.fixture(scope="session")
def planted_server(template_db: str) -> Iterator[tuple[str, Any]]:
    """A server whose database holds a script payload in every free-text field (tests/web/payloads.py)."""
    from tests.web.payloads import plant

    url = copy_database(template_db)
    with running_server(url, CITYLOOP_CASE_STORAGE="memory") as base:
        yield base, plant(base, url)
