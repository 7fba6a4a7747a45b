"""Security headers on every response and the Secure flag of cookies (issue 14, decision 0014)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityloop.core.headers import content_security_policy, tile_source

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'"
)


@pytest.mark.parametrize(
    "url, source",
    [
        ("", None),
        ("/tiles/{z}/{x}/{y}.png", None),
        ("https://tiles.example.org/{z}/{x}/{y}.png", "https://tiles.example.org"),
        ("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png", "https://*.tile.openstreetmap.org"),
        ("http://10.0.0.5:8080/wmts/{z}/{y}/{x}", "http://10.0.0.5:8080"),
        ("//tiles.example.org/{z}/{x}/{y}.png", "tiles.example.org"),
    ],
)
def test_the_tile_server_is_named_in_img_src(url: str, source: str | None) -> None:
    assert tile_source(url) == source
    csp = content_security_policy(url)
    img = next(d for d in csp.split("; ") if d.startswith("img-src"))
    assert img == "img-src 'self' data: blob:" + (f" {source}" if source else "")


def test_a_tile_host_the_policy_cannot_name_is_refused() -> None:
    with pytest.raises(ValueError, match="BASE_TILE_URL"):
        tile_source("https://tiles.example.org;script-src *")


@pytest.fixture
def app_with(db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """app_with(COOKIE_SECURE="auto", base_url=…) -> a TestClient of an app built with those settings."""
    from cityloop.app import create_app
    from cityloop.config import get_settings

    clients: list[TestClient] = []

    def make(base_url: str = "http://testserver", **env: str) -> TestClient:
        for key, value in env.items():
            monkeypatch.setenv(f"CITYLOOP_{key}", value)
        get_settings.cache_clear()
        c = TestClient(create_app(), base_url=base_url)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()
    get_settings.cache_clear()


def test_html_gets_the_csp_and_everything_gets_the_rest(client: TestClient) -> None:
    page = client.get("/login")
    assert page.headers["content-security-policy"] == CSP
    for r in (page, client.get("/healthz"), client.get("/api/v1/units"), client.get("/static/js/safe.js")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "geolocation=(self)" in r.headers["permissions-policy"]
    assert "content-security-policy" not in client.get("/healthz").headers


def test_an_unexpected_error_still_carries_the_headers(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cityloop.org import service

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(service, "authenticate", boom)
    with TestClient(client.app, raise_server_exceptions=False) as c:
        token = c.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
        r = c.post("/login", data={"username": "admin", "password": "x", "csrf": token})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"


def test_the_configured_tile_server_may_serve_images(app_with: Any) -> None:
    c = app_with(BASE_TILE_URL="https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    assert (
        "img-src 'self' data: blob: https://*.tiles.example.org;"
        in c.get("/login").headers["content-security-policy"]
    )


def _session_cookie(r: Any) -> str:
    return next(
        v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("cityloop_session=")
    )


@pytest.mark.parametrize(
    "setting, base_url, secure",
    [
        ("auto", "http://testserver", False),
        ("auto", "https://testserver", True),
        ("true", "http://testserver", True),
        ("1", "http://testserver", True),
        ("false", "https://testserver", False),
        ("off", "https://testserver", False),
    ],
)
def test_the_session_cookie_is_secure_as_configured(
    app_with: Any, setting: str, base_url: str, secure: bool
) -> None:
    c = app_with(base_url=base_url, COOKIE_SECURE=setting)
    cookie = _session_cookie(c.get("/login"))
    attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
    assert ("secure" in attributes) is secure
    assert attributes.count("secure") <= 1


def test_a_cookie_setting_that_is_no_choice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from cityloop.config import Settings

    monkeypatch.setenv("CITYLOOP_COOKIE_SECURE", "sometimes")
    with pytest.raises(ValidationError):
        Settings()
