"""In a real browser: the battle map draws every task, and the filters change what it shows."""

import pytest

from tests.web.conftest import sign_in

pytestmark = pytest.mark.browser


def shown(page) -> int:
    return int(page.evaluate("battleMap.view().layers.length"))


def wait_for(page, filters: str) -> None:
    page.wait_for_selector(f'#bmap.loaded[data-filters="{filters}"]')


def api_count(page, query: str) -> int:
    return int(
        page.evaluate(f"fetch('/api/v1/programme/map?{query}').then(r => r.json()).then(b => b.count)")
    )


def test_battle_map_filters_change_what_the_map_shows(page, live_server) -> None:
    sign_in(page, live_server, "supervisor")
    page.goto(f"{live_server}/programme/map")
    wait_for(page, "")
    everything = shown(page)
    assert everything == api_count(page, "") > 50
    assert f"{everything}" in page.locator("#bm-count").inner_text()
    page.select_option("#f-action", "CWZL")
    wait_for(page, "action=CWZL")
    by_action = shown(page)
    assert 0 < by_action < everything and by_action == api_count(page, "action=CWZL")
    page.select_option("#f-status", "red")
    wait_for(page, "action=CWZL&status=red")
    assert shown(page) == api_count(page, "action=CWZL&status=red") <= by_action
    note = page.locator("#gantt-note").inner_text()
    assert f"/ {shown(page)}" in note
    page.select_option("#f-action", "")
    page.select_option("#f-status", "")
    page.select_option("#f-unit", "500107001000")
    wait_for(page, "unit=500107001000")
    assert 0 < shown(page) == api_count(page, "unit=500107001000") < everything
    # The filter is in the address: a reload shows the same selection.
    page.reload()
    wait_for(page, "unit=500107001000")
    assert page.input_value("#f-unit") == "500107001000"


def test_a_task_on_the_map_opens_its_page(page, live_server) -> None:
    sign_in(page, live_server, "street")
    page.goto(f"{live_server}/programme/map")
    wait_for(page, "")
    # Click the first point where it is drawn on the canvas, then follow the popup's link.
    page.evaluate(
        """() => {
          const v = battleMap.view();
          const marker = v.layers.find((l) => l.getLatLng);
          v.map.setView(marker.getLatLng(), 16, { animate: false });
        }"""
    )
    # The canvas redraws on the next animation frames after the view change.
    page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    x, y = page.evaluate(
        """() => {
          const v = battleMap.view();
          const p = v.map.latLngToContainerPoint(v.layers.find((l) => l.getLatLng).getLatLng());
          return [p.x, p.y];
        }"""
    )
    page.locator("#bmap").click(position={"x": x, "y": y})  # scrolls the map into view first
    page.click(".leaflet-popup a.open-task")
    page.wait_for_selector("#task-title")
    assert page.locator("#timeline li").count() >= 1
    assert "杨家坪" in page.locator(".kv").first.inner_text()
