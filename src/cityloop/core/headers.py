"""Security headers on every response, and the Secure flag on cookies sent over HTTPS (decision 0014).

Every response gets ``X-Content-Type-Options``, ``X-Frame-Options``, ``Referrer-Policy`` and
``Permissions-Policy``; every HTML response a Content-Security-Policy that lets the page run only the
scripts and styles this site serves (no inline script, no inline event handler, no eval), load images
from this site and the configured base-tile server, and never be framed.

Cookies get ``Secure`` when ``CITYLOOP_COOKIE_SECURE`` is ``true``, or when it is ``auto`` (the default)
and the request came over HTTPS — directly, or through a reverse proxy that ``cityloop serve`` trusts
(``CITYLOOP_FORWARDED_ALLOW_IPS``; uvicorn then takes the scheme from ``X-Forwarded-Proto``).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityloop.config import Settings

ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    # The report form asks for the phone's position; nothing asks for anything else.
    (b"permissions-policy", b"geolocation=(self), camera=(), microphone=(), payment=(), usb=()"),
)


def tile_source(base_tile_url: str) -> str | None:
    """The CSP source for a Leaflet tile URL template: its scheme and host, ``{s}`` (the subdomain
    letters) as a wildcard; None when tiles come from this site or no tile URL is set."""
    parts = urlsplit(base_tile_url.strip())
    if not parts.netloc:
        return None  # empty, or a path on this site ('self' covers it)
    host = re.sub(r"[^.]*\{[^}]*\}[^.]*", "*", parts.netloc)  # a label holding a placeholder
    if not re.fullmatch(r"(\*\.)?[A-Za-z0-9.-]+(:\d+)?", host):
        raise ValueError(f"CITYLOOP_BASE_TILE_URL has a host the CSP cannot name: {parts.netloc}")
    return f"{parts.scheme}://{host}" if parts.scheme else host


def content_security_policy(base_tile_url: str = "") -> str:
    images = ["'self'", "data:", "blob:"]
    tiles = tile_source(base_tile_url)
    if tiles:
        images.append(tiles)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            # Leaflet and ECharts style their elements through the CSSOM (element.style), which a CSP
            # does not restrict; chart tooltips are built from elements (safe.js), not styled markup.
            "style-src 'self'",
            f"img-src {' '.join(images)}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ]
    )


class SecurityHeaders:
    """Pure ASGI (no per-request task or body buffering): it only edits the response's start message."""

    def __init__(self, app: ASGIApp, *, csp: str, cookie_secure: str) -> None:
        self.app = app
        self.csp = csp.encode("latin-1")
        self.cookie_secure = cookie_secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = self.cookie_secure == "true" or (
            self.cookie_secure == "auto" and scope.get("scheme") == "https"
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._edit(list(message.get("headers", [])), secure)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _edit(self, headers: list[tuple[bytes, bytes]], secure: bool) -> list[tuple[bytes, bytes]]:
        names = {name.lower() for name, _ in headers}
        out = []
        for name, value in headers:
            if secure and name.lower() == b"set-cookie" and b"secure" not in _attributes(value):
                value += b"; Secure"
            out.append((name, value))
        out += [(name, value) for name, value in ALWAYS if name not in names]
        content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
        if content_type.lower().startswith(b"text/html") and b"content-security-policy" not in names:
            out.append((b"content-security-policy", self.csp))
        return out


def _attributes(cookie: bytes) -> set[bytes]:
    return {part.split(b"=", 1)[0].strip().lower() for part in cookie.split(b";")[1:]}


def install(app: FastAPI, settings: Settings) -> None:
    """Wrap the whole middleware stack, Starlette's error middleware included, so that even the JSON of
    an unexpected 500 carries the headers (``add_middleware`` would sit inside that middleware)."""
    csp = content_security_policy(settings.base_tile_url)
    build = app.build_middleware_stack

    def build_with_headers() -> ASGIApp:
        return SecurityHeaders(build(), csp=csp, cookie_secure=settings.cookie_secure)

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
