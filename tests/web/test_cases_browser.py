"""In Chromium: the whole case loop through the pages (citizen report with a map pin and a photo →
dispatcher registers and dispatches from the queue → the street accepts and feeds back with evidence →
the inspector verifies → the dispatcher closes → the citizen rates), and the inspector reporting from a
phone with its position. One server for the module, on its own database copy."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cases.helpers import YJP, point_in
from tests.conftest import ROOT, copy_database
from tests.web.conftest import _free_port, sign_in

pytestmark = pytest.mark.browser
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478"
    "9c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def server(template_db: str) -> Iterator[str]:
    url = copy_database(template_db)
    port = _free_port()
    env = {
        **os.environ,
        "CITYLOOP_DATABASE_URL": url,
        "CITYLOOP_CASE_STORAGE": "memory",
        "PYTHONPATH": str(ROOT / "src"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityloop", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("server did not start")
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def place(template_db: str) -> tuple[float, float]:
    """A point inside the demo inspector's grid cell (lon, lat)."""
    from cityloop.core.db import session_scope

    with session_scope(template_db) as s:
        return point_in(s, f"{YJP}-C1-G1")


def click_map_at(page: Any, map_id: str, lon: float, lat: float) -> None:
    page.wait_for_selector(f"#{map_id}.loaded")
    xy = page.evaluate(
        "([id, lat, lon]) => { const p = cityloopCases.maps[id].latLngToContainerPoint([lat, lon]);"
        " return [p.x, p.y]; }",
        [map_id, lat, lon],
    )
    page.locator(f"#{map_id}").click(position={"x": xy[0], "y": xy[1]})


def act(page: Any, action: str, **fields: str) -> None:
    form = page.locator(f"#act-{action}")
    for name, value in fields.items():
        form.locator(f"[name={name}]").fill(value)
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#done-notice")


def test_the_loop_from_report_to_rating(page, server, place, tmp_path: Path) -> None:
    photo = tmp_path / "现场.png"
    photo.write_bytes(PNG)
    sign_in(page, server, "citizen")
    page.click("a[href='/cases/report']")
    page.select_option("select[data-role=major]", label="事件 · 市容环境")
    page.select_option("select[name=category]", "SJ0102")
    click_map_at(page, "pick-map", *place)
    assert page.locator("#pick-map").get_attribute("data-pinned") == "1"
    page.fill("textarea[name=description]", "<b>小区门口</b>垃圾三天没人清")
    page.set_input_files("input[name=files]", str(photo))
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#new-notice")
    tracking_no = page.locator("#tracking-no").inner_text().strip()
    assert tracking_no.startswith("JLP-")
    assert "<b>小区门口</b>" in page.locator("#case-description").inner_text()  # shown as text
    assert "现场.png" in page.locator("#files").inner_text()
    case_url = page.url.split("?")[0]
    page.context.clear_cookies()

    sign_in(page, server, "dispatcher")
    page.goto(f"{server}/cases/queue?q={tracking_no}")
    page.wait_for_selector("#queue-map.loaded")
    assert page.locator("#queue-map").get_attribute("data-kind") == "points"
    assert page.locator("#queue-map").get_attribute("data-feature-count") == "1"
    page.click(f"tr[data-no='{tracking_no}'] button[data-quick=register]")
    page.wait_for_url("**/cases/queue?q=*")
    page.click(f"tr[data-no='{tracking_no}'] a[href^='/cases/']")
    assert page.locator("#suggested-unit").inner_text().strip() == "杨家坪街道"
    act(page, "dispatch", note="请街道处置")
    page.context.clear_cookies()

    sign_in(page, server, "street")
    page.click("a[href='/cases/inbox']")
    row = page.locator(f"tr[data-no='{tracking_no}']")
    assert row.get_attribute("data-colour") == "green"
    row.locator("button[data-quick=accept]").click()
    page.goto(case_url)
    form = page.locator("#act-feedback")
    form.locator("[name=note]").fill("已清运")
    form.locator("[name=public_note]").fill("垃圾已清运完毕")
    form.locator("input[name=files]").set_input_files(str(photo))
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#done-notice")
    page.context.clear_cookies()

    sign_in(page, server, "inspector")
    page.goto(case_url)
    act(page, "verify_pass", note="现场核实")
    page.context.clear_cookies()
    sign_in(page, server, "dispatcher")
    page.goto(case_url)
    act(page, "close")
    page.context.clear_cookies()

    sign_in(page, server, "citizen")
    page.click("a[href='/cases/mine']")
    page.click(f"text={tracking_no}")
    page.check("input[name=score][value=basically_satisfied]")
    page.fill("textarea[name=comment]", "处理及时")
    page.click("#rate-form button[type=submit]")
    assert "基本满意" in page.locator("#rating-shown").inner_text()
    page.goto(f"{server}/track/{tracking_no}")
    assert "垃圾已清运完毕" in page.locator("#timeline").inner_text()


def test_inspector_reports_from_a_phone_with_its_position(browser, server, place) -> None:
    lon, lat = place
    context = browser.new_context(
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        geolocation={"longitude": lon, "latitude": lat},
        permissions=["geolocation"],
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        sign_in(page, server, "inspector")
        page.click("a[href='/cases/report']")
        page.wait_for_selector("#pick-map.loaded")
        # Nothing wider than the phone's screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 392
        page.click("#use-location")
        page.wait_for_selector("#pick-map[data-pinned='1']")
        assert float(page.locator("input[name=lon]").input_value()) == pytest.approx(lon, abs=1e-6)
        page.select_option("select[name=category]", "SJ0201")
        page.fill("textarea[name=description]", "电杆上新贴小广告")
        page.click("#report-form button[type=submit]")
        page.wait_for_selector("#new-notice")
        assert page.locator("#tracking-no").inner_text().startswith("JLP-")
        assert "网格员" in page.locator("#timeline").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 392
    finally:
        context.close()


def test_the_queue_map_draws_every_matching_case_as_clusters_or_points(page, server) -> None:
    """The demo month (~1,200 cases) is more than the 500 points the map draws: clusters whose counts add
    up to every matching case in view (not the page's 50); a narrower filter brings points back."""
    sign_in(page, server, "dispatcher")
    page.goto(f"{server}/cases/queue?state=all")
    page.wait_for_selector("#queue-map[data-kind=clusters]")
    el = page.locator("#queue-map")
    total = int(el.get_attribute("data-total") or 0)
    assert total > 500
    counts = [int(t) for t in page.locator(".case-cluster").evaluate_all("els => els.map(e => e.title)")]
    assert len(counts) == int(el.get_attribute("data-feature-count") or 0) > 1
    assert sum(counts) == total
    assert str(total) in page.locator("#queue-map-status").inner_text().replace(",", "")
    # A filter change reloads the map without submitting the form: only the cases awaiting registration.
    page.select_option("select[name=state]", "reported")
    page.wait_for_function(
        "() => { const m = document.getElementById('queue-map'); return m.dataset.kind === 'points'"
        " && Number(m.dataset.total) < 500; }"
    )
    shown = int(el.get_attribute("data-feature-count") or 0)
    assert shown == int(el.get_attribute("data-total") or -1)
    assert page.locator("#queue-map path.leaflet-interactive[fill]").count() >= shown
    # Clicking a cluster zooms into its cell.
    page.select_option("select[name=state]", "all")
    page.wait_for_selector("#queue-map[data-kind=clusters]")
    zoom = page.evaluate("() => cityloopCases.maps['queue-map'].getZoom()")
    page.locator(".case-cluster").first.click()
    page.wait_for_function(f"() => cityloopCases.maps['queue-map'].getZoom() > {zoom}")
