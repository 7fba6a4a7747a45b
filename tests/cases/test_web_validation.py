"""Forms refuse control characters on a page in the user's language and save nothing; ids in page
paths follow the API's id rule."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cases.test_web import HTML, PNG, count, submit
from tests.org.test_web_auth import sign_in


@pytest.mark.parametrize("with_photo", [False, True])  # URL-encoded and multipart
def test_a_report_with_a_nul_is_refused_on_the_page_and_nothing_is_saved(
    client: Any, db: Any, with_photo: bool
) -> None:
    sign_in(client, "citizen")
    before = count(db)
    files = [("files", ("x.png", PNG, "image/png"))] if with_photo else None
    r = submit(client, db, files=files, description="路边\x00堆放\x1b垃圾")
    assert r.status_code == 422
    assert "控制字符" in r.text and "description" in r.text
    client.get("/lang/en?next=/")
    r = submit(client, db, files=files, address="杨家坪\x00正街")
    assert r.status_code == 422 and "control character" in r.text
    assert count(db) == before
    ok = submit(client, db, files=files, description="两行\r\n说明\t可以")
    assert ok.status_code == 303 and count(db) == before + 1


@pytest.mark.parametrize("case_id", ["9223372036854775808", "99999999999999999999999"])
def test_page_ids_beyond_the_database_range_are_refused_not_crashed(client: Any, case_id: str) -> None:
    sign_in(client, "dispatcher")
    r = client.get(f"/cases/{case_id}", headers=HTML)
    assert r.status_code in (404, 422)


@pytest.mark.parametrize("lon", ["inf", "nan", "1e400", "-Infinity"])
def test_a_report_pinned_at_infinity_is_refused_and_nothing_is_saved(client: Any, db: Any, lon: str) -> None:
    sign_in(client, "citizen")
    before = count(db)
    r = submit(client, db, lon=lon)
    assert r.status_code == 422
    assert count(db) == before
