"""In a real browser (the 15-minute circle): the accessibility map draws the residential areas and
the facilities of the selected type, colours the gaps, and charts coverage per street/town."""

import pytest

from tests.web.conftest import sign_in

pytestmark = pytest.mark.browser


def test_accessibility_map_shows_areas_gaps_and_chart(page, live_server) -> None:
    sign_in(page, live_server, "supervisor")
    page.goto(f"{live_server}/livability")
    page.wait_for_selector("#map.loaded")
    areas = int(page.locator("#map").get_attribute("data-area-count"))
    assert areas == 162  # 9 streets × 18 schematic residential areas
    gaps_first = int(page.locator("#map").get_attribute("data-gap-count"))
    assert page.locator("#map path.area-gap").count() == gaps_first > 0
    assert page.locator("#map path.area-covered").count() == areas - gaps_first
    assert page.locator("#map path.facility").count() > 0
    assert int(page.locator("#chart").get_attribute("data-bars")) == 9
    assert page.locator("#chart canvas").count() >= 1
    page.select_option("#type-select", "bus_stop")
    gaps_bus = int(page.locator("#map").get_attribute("data-gap-count"))
    assert gaps_bus < gaps_first  # bus stops are the demo's densest type
    page.select_option("#type-select", "_all")
    gaps_all = int(page.locator("#map").get_attribute("data-gap-count"))
    assert gaps_all >= max(gaps_first, gaps_bus)  # "all types" is covered only where every type is
    assert "示意" in page.locator(".map-note").inner_text()


def test_street_account_sees_only_its_own_areas_on_the_map(page, live_server) -> None:
    sign_in(page, live_server, "street")
    page.goto(f"{live_server}/livability")
    page.wait_for_selector("#map.loaded")
    assert int(page.locator("#map").get_attribute("data-area-count")) == 18
    assert int(page.locator("#chart").get_attribute("data-bars")) == 1
