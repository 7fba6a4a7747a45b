"""The browser enforces it (issue 14): every page each role reaches from its navigation carries the
Content-Security-Policy and the other security headers, serves no inline script, inline handler or
inline style, and — with the policy in force and a script payload in every free-text field
(the planted server of test_stored_scripts.py) — reports no CSP violation and no console error.
Also: the escaping helper itself (static/js/safe.js), run in the page."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from tests.web.conftest import sign_in
from tests.web.payloads import Planted
from tests.web.sweep import ready, watch

pytestmark = pytest.mark.browser

EVERY_RESPONSE = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
}
CSP_MUST = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "img-src 'self' data: blob:",
]


class InlineFinder(HTMLParser):
    """Served HTML that would need 'unsafe-inline': a script without src (JSON data blocks do not run),
    an on… attribute, a style attribute or element, a javascript: URL. Parsed, so that a payload shown
    as (escaped) text or inside an attribute's value is not mistaken for markup."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and "src" not in values and values.get("type") != "application/json":
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"<{tag} {name}=…>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}={value}>")


def inline_markup(body: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(body)
    return finder.found


# Pages reached from each role's navigation, plus the record pages the planted data made.
ROLES = ["admin", "dispatcher", "street", "operator", "citizen", "supervisor"]
DETAIL = {
    "admin": [
        "/cases/{case}",
        "/programme/tasks/{task}",
        "/programme/problems/{problem}",
        "/twin/networks/{water}",
        "/docs",
    ],
    "dispatcher": ["/cases/{case}", "/cases/report"],
    "street": ["/programme/tasks/{task}"],
    "operator": ["/twin/networks/{water}"],
    "citizen": ["/cases/{case}"],
    "supervisor": ["/programme/tasks/{task}", "/cases/indicators"],
}


def check_headers(url: str, headers: dict[str, str], html: bool) -> list[str]:
    problems = [f"{url}: {k}={headers.get(k)!r}" for k, v in EVERY_RESPONSE.items() if headers.get(k) != v]
    if "permissions-policy" not in headers:
        problems.append(f"{url}: no Permissions-Policy")
    csp = headers.get("content-security-policy", "")
    if html:
        problems += [f"{url}: CSP lacks {part!r}" for part in CSP_MUST if part not in csp]
        problems += [
            f"{url}: CSP allows {bad!r}" for bad in ("unsafe-inline", "unsafe-eval", "*") if bad in csp
        ]
    return problems


@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_a_role_is_under_the_policy(
    page: Any, planted_server: tuple[str, Planted], role: str
) -> None:
    base, p = planted_server
    watched = watch(page)
    sign_in(page, base, role)
    links = page.eval_on_selector_all(".mainnav a, .tiles a", "(as) => as.map((a) => a.getAttribute('href'))")
    ids = {**p.ids, "water": next(n for n in p.ids["networks"] if "water" in n)}
    paths = list(dict.fromkeys(["/", *links, *(d.format(**ids) for d in DETAIL[role])]))
    assert len(paths) >= 4, f"{role} reaches too few pages: {paths}"
    problems: list[str] = []
    for path in paths:
        response = page.goto(base + path)
        assert response is not None and response.status == 200, (
            f"{role} {path}: {response and response.status}"
        )
        problems += check_headers(path, response.headers, html=True)
        body = response.text()
        problems += [f"{path}: {found}" for found in inline_markup(body)]
        ready(page, base + path)
    assert not problems, "\n".join(problems)
    assert not watched.violations, "CSP violations:\n" + "\n".join(watched.violations)
    assert not watched.console_errors, "console errors:\n" + "\n".join(watched.console_errors)
    assert not watched.hits and not watched.dialogs


def test_json_static_and_error_responses_carry_the_headers(planted_server: tuple[str, Planted]) -> None:
    base, _ = planted_server
    with httpx.Client(base_url=base) as c:
        for path, status, html in [
            ("/healthz", 200, False),
            ("/api/v1/units", 401, False),  # JSON error
            ("/api/v1/no-such-thing", 404, False),
            ("/static/js/safe.js", 200, False),
            ("/openapi.json", 200, False),
            ("/login", 200, True),
        ]:
            r = c.get(path, headers={"Accept": "text/html" if html else "application/json"})
            assert r.status_code == status, path
            assert check_headers(path, dict(r.headers), html) == []
            assert ("content-security-policy" in r.headers) == html, path
        # A body over the limit is refused before the app reads it: still with the headers.
        r = c.post(
            "/api/v1/cases", content=b"x" * (2 * 1_048_576), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413 and check_headers("413", dict(r.headers), False) == []


ESCAPING = r"""
() => {
  const out = {};
  out.esc = cityloop.esc(`<img src=x onerror="a">&'` + '`');
  out.nullish = [cityloop.esc(null), cityloop.esc(undefined), cityloop.esc(0)];
  const name = '<b onmouseover=x()>"它"</b>';
  out.html = cityloop.html`<div title="${name}">${name} · ${[1, '<i>']}</div>`;
  const holder = document.createElement('div');
  holder.innerHTML = out.html;
  out.parsedText = holder.textContent;
  out.parsedTitle = holder.firstChild.getAttribute('title');
  out.parsedElements = holder.querySelectorAll('*').length;
  const el = cityloop.text('a', name, { href: 'javascript:alert(1)', className: 'x' });
  out.textContent = el.textContent; out.href = el.getAttribute('href'); out.cls = el.className;
  out.local = cityloop.text('a', 'x', { href: '/cases/1' }).getAttribute('href');
  try {
    cityloop.text('span', 'x', { onclick: 'x()' });
    out.handler = 'allowed';
  } catch (e) {
    out.handler = 'refused';
  }
  const params = [{ axisValueLabel: name, seriesName: name, value: 5, color: '#f00' }];
  const tip = cityloop.chartTip({ trigger: 'axis' }).formatter(params);
  out.tipText = tip.textContent; out.tipElements = tip.querySelectorAll('b, span, div').length;
  out.tipInjected = tip.querySelectorAll('[onmouseover]').length;
  return out;
}
"""


def test_the_escaping_helper(page: Any, live_server: str) -> None:
    page.goto(f"{live_server}/login")
    r = page.evaluate(ESCAPING)
    assert r["esc"] == "&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;&#96;"
    assert r["nullish"] == ["", "", "0"]
    name = '<b onmouseover=x()>"它"</b>'
    assert r["parsedText"] == f"{name} · 1<i>" and r["parsedTitle"] == name and r["parsedElements"] == 1
    assert r["textContent"] == name and r["href"] == "#" and r["cls"] == "x"
    assert r["local"].endswith("/cases/1") and r["handler"] == "refused"
    assert r["tipText"] == f"{name}{name}5" and r["tipInjected"] == 0
