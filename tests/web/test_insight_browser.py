"""In a real browser (case intelligence): the hotspot page draws its map, and a programme task with a
place shows the before/after chart of reports at that place."""

from typing import Any

import pytest
from sqlalchemy import select

from tests.web.conftest import sign_in

pytestmark = pytest.mark.browser


def test_hotspot_page_and_task_before_after_chart(page: Any, live_server: str, db: Any) -> None:
    from cityloop.programme.models import Task

    task_id = db.execute(select(Task.id).where(Task.lon.is_not(None)).order_by(Task.id)).scalars().first()
    sign_in(page, live_server, "supervisor")
    page.goto(f"{live_server}/insight/hotspots")
    page.wait_for_selector("#map.loaded")
    assert page.locator("#hotspot-table").count() == 1
    page.goto(f"{live_server}/programme/tasks/{task_id}")
    page.wait_for_selector("#before-after.loaded")
    assert page.locator("#before-after-chart canvas").count() >= 1
    assert page.locator("#before-after-summary").inner_text()
