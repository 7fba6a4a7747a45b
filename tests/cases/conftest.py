"""Case tests roll back everything they change, units included: no area index may outlive a test."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx
import pytest


@pytest.fixture(autouse=True)
def _fresh_area_index() -> Iterator[None]:
    from cityloop.cases import cache

    cache.clear_all()
    yield
    cache.clear_all()


@pytest.fixture(autouse=True)
def _no_idle_connections_to_the_template() -> Iterator[None]:
    """PostgreSQL copies the template only when nobody is connected to it (live_db). The CLI's schema check
    leaves a pooled connection open; close the pool after each test (it reopens on demand)."""
    yield
    from cityloop.core.db import get_engine
    from tests.conftest import TEMPLATE_URL

    get_engine(TEMPLATE_URL).dispose()


class Server:
    """`cityloop serve` as a child process on a private database; can be killed and started again."""

    def __init__(self, url: str) -> None:
        from tests.web.conftest import _free_port

        self.url = url
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 — lives as long as the server; its stderr

    def start(self) -> None:
        from tests.conftest import ROOT

        env = {**os.environ, "CITYLOOP_DATABASE_URL": self.url, "PYTHONPATH": str(ROOT / "src")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cityloop", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 90  # generous: CI machines can be loaded
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        self.log.seek(0)
        tail = self.log.read().decode(errors="replace")[-2000:]
        raise RuntimeError(f"server did not start; its last words:\n{tail}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def server(live_db: str) -> Iterator[Server]:
    s = Server(live_db)
    s.start()
    yield s
    s.stop()


def live_token(username: str) -> dict[str, str]:
    """A bearer header for a demo account, committed in the live database."""
    from cityloop.core.audit import Actor
    from cityloop.core.db import session_scope
    from cityloop.org import service

    with session_scope() as s:
        token = service.create_token(s, actor=Actor("test"), user=service.get_user(s, username=username))
    return {"Authorization": f"Bearer {token}"}
