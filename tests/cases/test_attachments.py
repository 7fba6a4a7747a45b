"""Attachments: type by content, size limit, stored once, downloadable only in scope, evidence on events."""

import pytest
from sqlalchemy import func, select

from cityloop.cases import attachments
from cityloop.cases.models import Attachment
from tests.cases.helpers import act, report

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 100


@pytest.fixture
def store():
    memory = attachments.MemoryStorage()
    attachments.set_storage(memory)
    yield memory
    attachments.set_storage(None)


def _upload(client, headers, case_id, data, name="photo.jpg", ctype="image/jpeg", purpose="report"):
    return client.post(
        f"/api/v1/cases/{case_id}/attachments",
        headers=headers,
        files={"file": (name, data, ctype)},
        data={"purpose": purpose},
    )


def test_a_photo_is_stored_and_read_back(client, token_for, db, store) -> None:
    h = token_for("citizen")
    case = report(client, h, db).json()
    r = _upload(client, h, case["id"], JPEG, name="../../etc/现场.jpg")
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["content_type"] == "image/jpeg" and att["size"] == len(JPEG)
    assert "/" not in att["filename"] and att["filename"].endswith(".jpg")
    got = client.get(f"/api/v1/cases/{case['id']}/attachments/{att['id']}", headers=h)
    assert got.status_code == 200 and got.content == JPEG and got.headers["content-type"] == "image/jpeg"
    detail = client.get(f"/api/v1/cases/{case['id']}", headers=h).json()
    assert [a["id"] for a in detail["attachments"]] == [att["id"]]
    assert len(store.files) == 1


@pytest.mark.parametrize(
    "data, ctype, status",
    [
        (
            b"<html><script>alert(1)</script></html>",
            "image/jpeg",
            422,
        ),  # the name says jpeg, the bytes do not
        (b"MZ\x90\x00" + b"\x00" * 50, "application/octet-stream", 422),
        (b"", "image/png", 422),
    ],
)
def test_unsupported_files_are_refused(client, token_for, db, store, data, ctype, status) -> None:
    h = token_for("citizen")
    case = report(client, h, db).json()
    r = _upload(client, h, case["id"], data, ctype=ctype)
    assert r.status_code == status and r.json()["error"]["message"]
    assert db.scalar(select(func.count()).select_from(Attachment)) == 0 and store.files == {}


def test_an_oversized_file_is_413_and_stores_nothing(client, token_for, db, store, monkeypatch) -> None:
    from cityloop.config import get_settings

    monkeypatch.setenv("CITYLOOP_CASE_ATTACHMENT_MAX_BYTES", "1000")
    get_settings.cache_clear()
    try:
        h = token_for("citizen")
        case = report(client, h, db).json()
        r = _upload(client, h, case["id"], PNG + b"\x00" * 2000, name="big.png", ctype="image/png")
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        assert db.scalar(select(func.count()).select_from(Attachment)) == 0 and store.files == {}
    finally:
        get_settings.cache_clear()


def test_feedback_carries_evidence_from_the_case_only(client, token_for, db, store) -> None:
    dispatcher, street = token_for("dispatcher"), token_for("street")
    case = report(client, token_for("citizen"), db).json()
    other = report(client, token_for("citizen"), db, category="BJ0118").json()
    foreign = _upload(client, token_for("citizen"), other["id"], PNG, name="x.png", ctype="image/png").json()
    for action in ("register", "dispatch"):
        case = act(client, dispatcher, case, action).json()
    case = act(client, street, case, "accept").json()
    after = _upload(client, street, case["id"], JPEG + b"1", purpose="evidence").json()
    bad = act(client, street, case, "feedback", note="已清运", attachment_ids=[foreign["id"]])
    assert bad.status_code == 422
    case = act(client, street, case, "feedback", note="已清运", attachment_ids=[after["id"]]).json()
    events = client.get(f"/api/v1/cases/{case['id']}/timeline", headers=dispatcher).json()
    assert events[-1]["action"] == "feedback" and events[-1]["evidence"] == [after["id"]]


def test_a_closed_case_takes_no_more_files(client, token_for, db, store) -> None:
    dispatcher = token_for("dispatcher")
    case = report(client, token_for("citizen"), db).json()
    act(client, dispatcher, case, "void", reason="重复")
    assert _upload(client, dispatcher, case["id"], JPEG).status_code == 409


def test_local_storage_writes_by_hash_and_refuses_odd_keys(tmp_path) -> None:
    disk = attachments.LocalStorage(tmp_path)
    key = disk.put(PNG, "png")
    assert disk.put(PNG, "png") == key and disk.get(key) == PNG
    assert (tmp_path / key[:2] / key).is_file()
    with pytest.raises(FileNotFoundError):
        disk.get("../../etc/passwd")
