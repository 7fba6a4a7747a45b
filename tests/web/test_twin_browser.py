"""In Chromium: the water operator opens the demo network map with its sensors."""

from __future__ import annotations

import pytest

from tests.web.conftest import sign_in

pytestmark = pytest.mark.browser


def test_network_map_draws_pipes_nodes_and_sensors(page, live_server) -> None:
    sign_in(page, live_server, "operator")
    page.click("a[href='/twin']")
    page.click("a[data-network='demo-water']")
    page.wait_for_selector("#twin-map.loaded")
    assert int(page.locator("#twin-map").get_attribute("data-sensor-count")) == 8
    assert page.locator("#twin-map path.leaflet-interactive").count() > 100  # Net3's pipes and nodes
    assert page.get_by_text("示意位置").first.is_visible()
