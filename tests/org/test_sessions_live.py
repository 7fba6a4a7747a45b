"""Two real server processes on one database, installed as ``make demo`` does (``cityloop init`` writes the
secret, nothing else is set): no forged session gets in, a session ended on one server is ended on the
other at once, and concurrent sign-ins over HTTP are throttled exactly."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from cityloop.org.demo import DEMO_PASSWORD
from cityloop.org.models import User
from tests.conftest import ROOT, copy_database
from tests.org.test_sessions import NEW_ADMIN, OLD_DEFAULT_SECRET, starlette_cookie


@dataclass
class Deployment:
    a: str
    b: str
    url: str
    data_dir: Path
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityloop", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {out}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


@pytest.fixture(scope="module")
def deployment(template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    url = copy_database(template_db)
    data_dir = tmp_path_factory.mktemp("deployment") / "var"
    env = {
        **os.environ,
        "CITYLOOP_DATABASE_URL": url,
        "CITYLOOP_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(ROOT / "src"),
    }
    env.pop("CITYLOOP_SECRET_KEY", None)  # as on a fresh install
    init = subprocess.run(
        [sys.executable, "-m", "cityloop", "init"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert init.returncode == 0, init.stderr
    procs: list[subprocess.Popen[bytes]] = []
    try:
        first, a = _serve(env)
        procs.append(first)
        second, b = _serve(env)
        procs.append(second)
        yield Deployment(a, b, url, data_dir, env)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)


def browser(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=60, headers={"Accept": "text/html"})


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def sign_in(base: str, username: str, password: str = DEMO_PASSWORD) -> tuple[httpx.Client, str]:
    client = browser(base)
    form = client.get("/login").text
    r = client.post("/login", data={"username": username, "password": password, "csrf": csrf_of(form)})
    assert r.status_code == 303, r.text
    return client, csrf_of(client.get("/").text)


def on(base: str, cookie: str) -> httpx.Client:
    client = browser(base)
    client.cookies.set("cityloop_session", cookie)
    return client


def count_users(url: str, username: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.scalar(select(func.count()).select_from(User).where(User.username == username)) or 0
            )
    finally:
        engine.dispose()


def test_a_fresh_install_has_its_own_secret_and_forged_cookies_get_nothing(deployment: Deployment) -> None:
    secret_file = deployment.data_dir / "secret_key"
    assert secret_file.is_file() and stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert OLD_DEFAULT_SECRET not in secret_file.read_text()
    engine = create_engine(deployment.url)
    with engine.connect() as conn:
        admin_id, epoch = conn.execute(
            select(User.id, User.session_epoch).where(User.username == "admin")
        ).one()
    engine.dispose()
    forged = starlette_cookie(OLD_DEFAULT_SECRET, {"uid": admin_id, "epoch": epoch, "csrf": "x"})
    for base in (deployment.a, deployment.b):
        client = on(base, forged)
        assert client.get("/admin/users", follow_redirects=False).status_code == 303
        form = {"csrf": "x", **NEW_ADMIN}
        assert client.post("/admin/users", data=form, follow_redirects=False).status_code in (303, 403)
        api = on(base, forged).post("/api/v1/users", json=NEW_ADMIN, headers={"X-CSRF-Token": "x"})
        assert api.status_code == 401
    assert count_users(deployment.url, NEW_ADMIN["username"]) == 0


def test_a_session_works_on_both_servers_and_logout_on_one_ends_it_on_the_other(
    deployment: Deployment,
) -> None:
    client, csrf = sign_in(deployment.a, "admin")
    cookie = client.cookies["cityloop_session"]
    assert on(deployment.b, cookie).get("/admin/users", follow_redirects=False).status_code == 200
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    replay = on(deployment.b, cookie)
    r = replay.get("/admin/users", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    api = on(deployment.b, cookie).post("/api/v1/users", json=NEW_ADMIN, headers={"X-CSRF-Token": csrf})
    assert api.status_code == 401
    assert count_users(deployment.url, NEW_ADMIN["username"]) == 0


@pytest.mark.parametrize(
    "username, change",
    [
        ("leader", {"password": "another-password-1"}),
        ("department", {"active": False}),
        ("enforcement", {"lock_minutes": 60}),
        ("operator", {"sign_out": True}),
    ],
    ids=["password", "deactivation", "lock", "sign-out-everywhere"],
)
def test_an_account_change_on_one_server_ends_its_sessions_on_the_other(
    deployment: Deployment, username: str, change: dict[str, object]
) -> None:
    victim, _ = sign_in(deployment.b, username)
    cookie = victim.cookies["cityloop_session"]
    assert on(deployment.b, cookie).get("/", follow_redirects=False).status_code == 200
    admin, csrf = sign_in(deployment.a, "admin")
    r = admin.patch(f"/api/v1/users/{username}", json=change, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert on(deployment.b, cookie).get("/", follow_redirects=False).status_code == 303


def test_concurrent_sign_ins_over_http_are_throttled_exactly(deployment: Deployment) -> None:
    """40 browsers send a wrong password at once: exactly the allowance is checked (401), the rest
    wait (429)."""
    allowance = 5  # the default login_max_failures; the servers run with default settings
    forms = []
    for _ in range(40):
        client = browser(deployment.a)
        forms.append((client, csrf_of(client.get("/login").text)))
    start = threading.Barrier(len(forms))
    codes: list[int] = []

    def post(client: httpx.Client, csrf: str) -> None:
        start.wait()
        r = client.post("/login", data={"username": "street2", "password": "not-it", "csrf": csrf})
        codes.append(r.status_code)

    threads = [threading.Thread(target=post, args=form) for form in forms]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    print(f"over HTTP: {codes.count(401)} of {len(forms)} passwords checked")
    assert sorted(codes) == [401] * allowance + [429] * (len(forms) - allowance)


def test_forwarded_addresses_count_only_from_the_trusted_proxy(deployment: Deployment) -> None:
    """``serve`` believes X-Forwarded-For from CITYLOOP_FORWARDED_ALLOW_IPS only (default 127.0.0.1).
    Through the trusted proxy an attacker and the owner are two clients: the owner is not held up. From
    anywhere else the header is ignored, so a forged one buys an attacker no fresh attempts."""

    def attempt(source: str, forwarded: str, username: str, password: str) -> int:
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(base_url=deployment.a, transport=transport, timeout=60) as client:
            headers = {"X-Forwarded-For": forwarded}
            csrf = csrf_of(client.get("/login", headers=headers).text)
            data = {"username": username, "password": password, "csrf": csrf}
            return client.post("/login", data=data, headers=headers).status_code

    for _ in range(5):
        assert attempt("127.0.0.1", "198.51.100.1", "street", "guess") == 401
    assert attempt("127.0.0.1", "198.51.100.1", "street", DEMO_PASSWORD) == 429  # the guesser waits
    assert attempt("127.0.0.1", "198.51.100.2", "street", DEMO_PASSWORD) == 303  # the owner does not
    for n in range(5):
        assert attempt("127.0.0.2", f"198.51.100.{10 + n}", "inspector", "guess") == 401
    assert attempt("127.0.0.2", "198.51.100.99", "inspector", DEMO_PASSWORD) == 429
