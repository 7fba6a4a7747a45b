"""In a real browser: sign in, switch language, open the district map."""

import pytest

from tests.web.conftest import sign_in

pytestmark = pytest.mark.browser


def test_sign_in_shows_the_role_home_with_the_map(page, live_server) -> None:
    sign_in(page, live_server, "dispatcher")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_text("指挥中心派遣员").first.is_visible()
    page.wait_for_selector("#map.loaded")
    # District outline, 19 streets/towns, communities and grid cells are drawn as vector paths.
    assert page.locator("#map path.leaflet-interactive").count() > 19
    assert page.get_by_text("示意边界").is_visible()


def test_wrong_password_stays_on_the_form_with_a_message(page, live_server) -> None:
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", "street")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "用户名或密码错误。"


def test_switch_to_english_and_back(page, live_server) -> None:
    sign_in(page, live_server, "street")
    page.click("a[data-lang=en]")
    page.wait_for_selector("html[lang=en]")
    assert page.get_by_text("Street/town staff").first.is_visible()
    page.click("a[data-lang=zh-CN]")
    page.wait_for_selector("html[lang=zh-CN]")


def test_map_page_shows_only_the_accounts_own_area(page, live_server) -> None:
    sign_in(page, live_server, "street")
    page.goto(f"{live_server}/map")
    page.wait_for_selector("#map.loaded")
    count = int(page.locator("#map").get_attribute("data-feature-count"))
    assert count == 7  # 杨家坪街道 + 2 communities + 4 grid cells, nothing of other streets
    assert "7" in page.locator("#map-status").inner_text()
