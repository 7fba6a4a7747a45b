"""Stored scripts never run (issue 14): a payload in every free-text field a page or a map shows, planted
through the API by the roles that may write it (tests/web/payloads.py); then an administrator and a
dispatcher open every page that shows them, hover and click every map feature, open every tooltip and
popup, show every chart tooltip (tests/web/sweep.py), and nothing runs.

The browser context bypasses the Content-Security-Policy here: this test proves the escaping alone
(safe.js, the templates), the CSP being the second wall (test_page_security.py checks it on the same
planted data). Each page also has to show the payloads as the literal text they are — a payload that
was parsed as HTML loses its tags and fails that check even when nothing ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.conftest import sign_in
from tests.web.payloads import Planted
from tests.web.sweep import sweep, watch

pytestmark = pytest.mark.browser

# (path, fields shown in a tooltip/popup/chart tooltip, fields shown in the page's text)
ADMIN_PAGES: list[tuple[str, list[str], list[str]]] = [
    ("/", ["unit.name", "unit.street_name"], []),
    ("/map", ["unit.name", "unit.street_name"], []),
    ("/resources/idle-spaces", ["idle.name"], ["idle.name", "idle.owner", "idle.intended_use"]),
    ("/resources/buildings", [], ["building.name"]),
    ("/livability", ["area.name", "facility.name", "unit.street_name"], []),
    ("/livability/data", [], ["area.name"]),
    ("/livability/siting", [], []),
    ("/twin", [], []),
    (
        "/twin/networks/{water}",
        ["sensor.name", "sensor.measure_unit", "twin.facility", "twin.link_ref"],
        ["sensor.name", "sensor.measure_unit"],
    ),
    ("/cases/queue", ["category.name"], ["case.address", "category.name", "unit.street_name"]),
    (
        "/cases/{case}",
        [],
        ["case.description", "case.address", "case.note", "case.public_note", "category.name"],
    ),
    ("/cases/{hotline_case}", [], ["case.reporter_name", "case.source_ref"]),
    ("/cases/indicators?group_by=street", ["unit.street_name"], ["unit.street_name"]),
    ("/insight/hotspots", ["hotspot.place", "hotspot.summary"], ["hotspot.place", "hotspot.summary"]),
    ("/programme/map", ["task.name", "person.name", "milestone.name"], []),
    ("/programme/tasks", [], ["task.name"]),
    (
        "/programme/tasks/{task}",
        [],
        [
            "task.name",
            "task.indicator",
            "task.indicator_unit",
            "task.target",
            "task.site_plan",
            "milestone.name",
            "milestone.deliverable",
            "report.narrative",
            "person.name",
            "person.title",
            "problem.title",
            "evidence.filename",
        ],
    ),
    ("/programme/problems/{problem}", [], ["problem.title", "problem.description"]),
    ("/admin/units", [], ["unit.name"]),
    ("/admin/users", [], ["user.display_name"]),
    ("/admin/audit", [], []),
]
DISPATCHER_PAGES: list[tuple[str, list[str], list[str]]] = [
    ("/", ["unit.name", "unit.street_name"], []),
    ("/cases/queue", ["category.name"], ["case.address", "category.name"]),
    ("/cases/{case}", [], ["case.description", "case.address", "case.note"]),
    ("/cases/{hotline_case}", [], ["case.reporter_name", "case.source_ref"]),
    ("/cases/overdue", [], []),
    ("/insight/hotspots", ["hotspot.place", "hotspot.summary"], ["hotspot.place"]),
    ("/twin/networks/{water}", ["sensor.name", "twin.facility", "twin.link_ref"], ["sensor.name"]),
]


@pytest.fixture
def escaping_only(browser: Any) -> Iterator[Any]:
    """A page whose browser ignores the CSP: what is checked is the escaping, not the policy."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 860}, bypass_csp=True)
    p = context.new_page()
    p.set_default_timeout(20000)
    yield p
    context.close()


@pytest.mark.parametrize("role, pages", [("admin", ADMIN_PAGES), ("dispatcher", DISPATCHER_PAGES)])
def test_stored_payloads_never_run_and_show_as_text(
    escaping_only: Any,
    planted_server: tuple[str, Planted],
    role: str,
    pages: list[tuple[str, list[str], list[str]]],
) -> None:
    base, p = planted_server
    page = escaping_only
    watched = watch(page)
    sign_in(page, base, role)
    ids = {**p.ids, "water": next(n for n in p.ids["networks"] if "water" in n)}
    failures: list[str] = []
    for template, in_overlay, in_text in pages:
        path = template.format(**ids)
        result = sweep(page, base + path)
        overlays = "\n".join(result["seen"])
        failures += [f"{path}: injected markup {found}" for found in result["injected"]]
        failures += [
            f"{path}: {f} not shown as text in a tooltip/popup"
            for f in in_overlay
            if p.texts[f] not in overlays
        ]
        failures += [
            f"{path}: {f} not shown as text on the page" for f in in_text if p.texts[f] not in result["text"]
        ]
        if in_overlay:
            assert result["features"] + result["items"] > 0, f"{path}: no map feature or chart item to hover"
    names = {str(p.number(f)): f for f in p.texts}
    ran = sorted(
        {
            f"{hit.split(': xss(')[0].removeprefix(base)}: {names.get(hit.split('xss(')[1][:-1])}"
            for hit in watched.hits
        }
    )
    assert not ran, f"stored scripts ran ({len(watched.hits)} times): " + "; ".join(ran)
    assert not watched.dialogs, f"dialogs opened: {watched.dialogs}"
    assert not failures, "\n".join(failures)
