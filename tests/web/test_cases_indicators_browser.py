"""In a real browser: the supervisor's indicator dashboard draws its charts from the demo month."""

import pytest

from tests.web.conftest import sign_in

pytestmark = pytest.mark.browser


def test_indicator_dashboard_draws_bars_per_unit_and_a_monthly_trend(page, live_server) -> None:
    sign_in(page, live_server, "leader")
    page.click("a[href='/cases/indicators']")
    page.wait_for_selector("#chart-groups.drawn")
    page.wait_for_selector("#chart-trend.drawn")  # the monthly lines load after the page
    groups = int(page.locator("#chart-groups").get_attribute("data-groups"))
    rows = page.locator("#indicator-table tbody tr").count()
    assert groups > 1 and rows == groups + 1  # one row per unit, then the total
    assert int(page.locator("#chart-groups").get_attribute("data-series")) == 11  # the eleven rates
    assert int(page.locator("#chart-trend").get_attribute("data-points")) == 12
    assert page.locator("#chart-groups canvas").count() >= 1
    assert page.locator("#chart-trend canvas").count() >= 1
    head = page.locator("#indicator-table thead").inner_text()
    assert all(name in head for name in ("按时派遣率", "准确派遣率", "按期处置率", "按期结案率", "延期率"))
    page.select_option("select[name=group_by]", "street")
    page.click("#indicator-form button[type=submit]")
    page.wait_for_selector("#chart-groups.drawn")
    assert "group_by=street" in page.url
    assert page.locator("#export-xlsx").get_attribute("href").startswith("/api/v1/cases/indicators.xlsx?")
