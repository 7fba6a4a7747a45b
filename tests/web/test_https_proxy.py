"""Behind a reverse proxy (issue 14): ``cityloop serve`` believes X-Forwarded-Proto only from the
addresses of CITYLOOP_FORWARDED_ALLOW_IPS (default 127.0.0.1), and with CITYLOOP_COOKIE_SECURE=auto (the
default) the session cookie is Secure exactly when the request came over HTTPS."""

from __future__ import annotations

from typing import Any

import httpx


def session_cookie(base: str, source: str, **headers: str) -> str:
    """The session cookie of the sign-in page, asked from the local address ``source``."""
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source)) as c:
        r = c.get(f"{base}/login", headers=headers)
    assert r.status_code == 200
    return next(
        v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("cityloop_session=")
    )


def secure(cookie: str) -> bool:
    return "secure" in [part.strip().lower() for part in cookie.split(";")[1:]]


def test_only_a_trusted_proxy_saying_https_gets_a_secure_cookie(planted_server: tuple[str, Any]) -> None:
    https = {"X-Forwarded-Proto": "https"}
    base, _ = planted_server  # `cityloop serve` with the default settings: trusts 127.0.0.1
    assert not secure(session_cookie(base, "127.0.0.1"))  # plain HTTP: the laptop demo keeps working
    assert secure(session_cookie(base, "127.0.0.1", **https))  # the trusted proxy terminated TLS
    assert not secure(session_cookie(base, "127.0.0.1", **{"X-Forwarded-Proto": "http"}))
    # Anyone else (here 127.0.0.2, also this machine) cannot claim HTTPS for a request.
    assert not secure(session_cookie(base, "127.0.0.2", **https))
