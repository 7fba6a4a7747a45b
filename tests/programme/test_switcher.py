"""Issue #4 leftover: a programme switcher on the programme pages (the choice is remembered)."""

from __future__ import annotations

from cityloop.org import service as org
from cityloop.programme import service
from tests.org.test_web_auth import sign_in
from tests.programme.conftest import ACTOR, make_task


def second_programme(db):
    old = service.create_programme(
        db, actor=ACTOR, code="P2025", name="城市更新行动 2025(测试)", year=2025,
        owner=org.find_unit(db, ref="gtf"),
    )  # fmt: skip
    lead = org.find_unit(db, ref="dept-cgj")
    service.create_action(
        db,
        actor=ACTOR,
        programme=old,
        data=service.ActionInput(code="OLD", name="旧行动(测试)", lead_unit=lead),
    )
    db.commit()
    task = make_task(db, action="OLD", code="OLD-1", programme="P2025", starts="2025-03-01", due="2025-06-30",
                     milestones=[("一", "2025-04-01", 50.0), ("二", "2025-06-30", 100.0)])  # fmt: skip
    return old, task


def test_the_switcher_lists_programmes_and_the_choice_follows_the_pages(client, db) -> None:
    second_programme(db)
    current = service.get_programme(db)
    sign_in(client, "supervisor")
    home = client.get("/programme")
    assert 'id="programme-switch"' in home.text and "P2025" in home.text and current.name in home.text
    switched = client.get("/programme?programme=P2025")
    assert switched.status_code == 200 and "旧行动(测试)" in switched.text
    # Remembered: the task list, the map and the ledger links now speak of 2025.
    tasks = client.get("/programme/tasks")
    assert "OLD-1" in tasks.text and "ledger.xlsx?programme=P2025" in tasks.text
    assert 'data-programme="P2025"' in client.get("/programme/map").text
    stats = client.get("/api/v1/programme/stats?programme=P2025").json()
    assert [a["name"] for a in stats["actions"]] == ["旧行动(测试)"]
    assert client.get("/programme?programme=NOPE").status_code == 404
    back = client.get(f"/programme?programme={current.code}")
    assert "旧行动(测试)" not in back.text
    assert "OLD-1" not in client.get("/programme/tasks").text


def test_without_a_second_programme_no_switcher_is_shown(client, db) -> None:
    sign_in(client, "street")
    assert 'id="programme-switch"' not in client.get("/programme").text
