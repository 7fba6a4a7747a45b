"""Every new case gets a suggested category: keyword rules with no model, the active version when there
is one, and never a failed intake because of a model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from cityloop.config import get_settings
from cityloop.core.audit import Actor
from cityloop.insight import intake, modelfile, registry
from cityloop.insight.models import CaseInsight, InsightModel
from cityloop.insight.training import train
from tests.cases.helpers import YJP, report


@pytest.fixture(autouse=True)
def _fresh_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from cityloop.cases import cache

    cache.clear_all()
    monkeypatch.setattr(intake, "CHECK_SECONDS", 0.0)  # see a newly activated version at once
    intake.reset()
    yield
    intake.reset()
    cache.clear_all()


def _threshold(monkeypatch: pytest.MonkeyPatch, value: float) -> None:
    monkeypatch.setenv("CITYLOOP_INSIGHT_PREFILL_CONFIDENCE", str(value))
    get_settings.cache_clear()


def _suggestion(client: Any, headers: dict[str, str], case_id: int) -> dict[str, Any]:
    r = client.get(f"/api/v1/insight/cases/{case_id}/suggestion", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_without_a_model_keyword_rules_suggest_and_confident_ones_are_prefilled(
    client: Any, db: Any, token_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _threshold(monkeypatch, 0.8)
    citizen, dispatcher = token_for("citizen"), token_for("dispatcher")
    r = report(client, citizen, db, category="SJ0102", description="小区门口有人私搭乱建彩钢棚")
    assert r.status_code == 201, r.text
    s = _suggestion(client, dispatcher, r.json()["id"])
    assert s["suggested_category"] == "SJ0101"  # 私搭乱建, though the citizen chose 暴露垃圾
    assert s["model_version"] == 0 and s["confidence"] >= 0.8
    assert s["prefill"] is True and s["triage"] == "prefilled"


def test_doubtful_suggestions_go_to_manual_triage(
    client: Any, db: Any, token_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _threshold(monkeypatch, 0.99)
    r = report(client, token_for("citizen"), db, description="路边堆放生活垃圾")
    case_id = r.json()["id"]
    dispatcher = token_for("dispatcher")
    s = _suggestion(client, dispatcher, case_id)
    assert s["triage"] == "manual" and s["prefill"] is False
    queue = client.get("/api/v1/insight/triage", headers=dispatcher)
    assert queue.status_code == 200
    assert case_id in [row["case_id"] for row in queue.json()]


def test_the_active_version_is_used_and_a_switch_back_to_rules_is_seen(
    client: Any, db: Any, token_for: Any
) -> None:
    texts = (
        ["夜间施工噪音扰民"] * 3 + ["施工噪音很大"] * 3 + ["机动车停在人行道上"] * 3 + ["车辆乱停放堵路"] * 3
    )
    labels = ["SJ0301"] * 6 + ["SJ0505"] * 6
    model = train(texts, labels)
    row = registry.register(
        db, actor=Actor("test"), data=modelfile.dumps(model), source="test", activate=True
    )
    db.commit()
    citizen, dispatcher = token_for("citizen"), token_for("dispatcher")
    r = report(client, citizen, db, description="夜间施工噪音扰民")
    assert _suggestion(client, dispatcher, r.json()["id"])["model_version"] == row.version
    registry.activate_version(db, actor=Actor("test"), version=0)
    db.commit()
    r = report(client, citizen, db, description="夜间施工噪音扰民", shift=0.001)
    assert _suggestion(client, dispatcher, r.json()["id"])["model_version"] == 0


def test_a_broken_active_model_never_breaks_intake(client: Any, db: Any, token_for: Any) -> None:
    db.add(
        InsightModel(version=99, kind="linear", source="junk", classes=["SJ0102"], active=True, blob=b"junk")
    )
    db.commit()
    r = report(client, token_for("citizen"), db, description="路边堆放生活垃圾")
    assert r.status_code == 201, r.text
    row = db.execute(select(CaseInsight).where(CaseInsight.case_id == r.json()["id"])).scalar_one()
    assert row.model_version == 0 and row.suggested_code == "SJ0102"


def test_a_model_of_other_categories_is_refused_when_registered(db: Any) -> None:
    from cityloop.core.errors import ValidationFailed

    model = train(["噪音"] * 3 + ["停车"] * 3, ["甲"] * 3 + ["乙"] * 3)
    with pytest.raises(ValidationFailed):
        registry.register(db, actor=Actor("test"), data=modelfile.dumps(model), source="test")
    with pytest.raises(ValidationFailed):
        registry.register(db, actor=Actor("test"), data=b"not a zip", source="test")


@pytest.mark.parametrize(
    ("username", "status"),
    [("dispatcher", 200), ("admin", 200), ("street", 200), ("street2", 404), ("citizen", 403)],
)
def test_suggestion_scope(client: Any, db: Any, token_for: Any, username: str, status: int) -> None:
    # The case lies in 杨家坪 (YJP): 黄桷坪's street account must not learn it exists.
    r = report(client, token_for("inspector"), db, grid=f"{YJP}-C1-G1", description="路边堆放生活垃圾")
    case_id = r.json()["id"]
    got = client.get(f"/api/v1/insight/cases/{case_id}/suggestion", headers=token_for(username))
    assert got.status_code == status, got.text


@pytest.mark.parametrize(
    ("username", "status"), [("dispatcher", 200), ("supervisor", 200), ("street", 403), ("citizen", 403)]
)
def test_triage_scope(client: Any, token_for: Any, username: str, status: int) -> None:
    assert client.get("/api/v1/insight/triage", headers=token_for(username)).status_code == status


def test_the_dispatchers_case_page_shows_the_suggestion_prefilled(
    client: Any, db: Any, token_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _threshold(monkeypatch, 0.8)
    r = report(client, token_for("citizen"), db, category="SJ0102", description="小区门口有人私搭乱建彩钢棚")
    page = client.get(f"/cases/{r.json()['id']}", headers=token_for("dispatcher"))
    assert page.status_code == 200
    assert 'id="insight-suggestion" data-triage="prefilled"' in page.text
    assert 'data-prefilled="SJ0101"' in page.text
    assert '<option value="SJ0101" data-major' in page.text and "SJ0101" in page.text
