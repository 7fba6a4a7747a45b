"""The validation vocabulary (core.validation) and the raw-input guard (core.jsonlimits)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from cityloop.core import validation as v
from cityloop.core.jsonlimits import MAX_DEPTH, json_problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),
        ("0", None),
        ("-1", None),
        ("²", None),  # str.isdigit() says yes; int() says no
        ("١٢", None),
        ("１２", None),
        ("+5", None),
        ("1_000", None),
        ("1.0", None),
        ("", None),
    ],
)
def test_parse_id_takes_ascii_digits_within_the_database_range(text: str, expected: int | None) -> None:
    assert v.parse_id(text) == expected


def test_id_and_page_types_refuse_what_the_databases_cannot_hold() -> None:
    from pydantic import TypeAdapter

    ids = TypeAdapter(v.Id)
    assert ids.validate_python("42") == 42
    for bad in ["²", " 7", "0", str(2**63), 2**63, True, "1e3"]:
        with pytest.raises(ValidationError):
            ids.validate_python(bad)
    pages = TypeAdapter(v.Page)
    with pytest.raises(ValidationError):
        pages.validate_python(str(2**62))


def test_input_models_refuse_overflow_infinity_control_characters_and_wild_times() -> None:
    class Thing(v.Input):
        n: int | None = None
        x: float | None = None
        text: str | None = None
        at: datetime | None = None
        on: date | None = None
        values: dict[str, float] | None = None

    assert Thing(text="two\nlines\tand a tab").text == "two\nlines\tand a tab"
    bad: list[dict[str, Any]] = [
        {"n": 2**63},
        {"x": float("inf")},
        {"x": 10**400},
        {"text": "a\x00b"},
        {"text": "\x1b[31m"},
        {"text": "\ud800"},
        {"at": datetime(2026, 1, 1)},  # no zone
        {"at": datetime(9999, 12, 31, tzinfo=UTC)},
        {"at": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=8)))},
        {"on": date(1, 1, 1)},
        {"values": {"a": float("nan")}},
    ]
    for fields in bad:
        with pytest.raises(ValidationError) as err:
            Thing(**fields)
        assert err.value.errors()[0]["loc"][0] == next(iter(fields)), fields


def test_patch_refuses_null_except_for_clearable_fields_and_says_so_in_its_schema() -> None:
    class Change(v.Patch):
        clearable = frozenset({"note"})
        name: str | None = None
        note: str | None = None

    assert Change.model_validate({"note": None}).note is None
    assert Change.model_validate({}).model_dump(exclude_unset=True) == {}
    with pytest.raises(ValidationError) as err:
        Change.model_validate({"name": None})
    assert err.value.errors()[0]["loc"] == ("name",)
    assert err.value.errors()[0]["type"] == "null_not_allowed"
    props = Change.model_json_schema()["properties"]
    assert props["name"] == {"title": "Name", "type": "string"}
    assert {"type": "null"} in props["note"]["anyOf"]


def test_parse_time_keeps_to_the_years_and_wants_a_zone() -> None:
    assert v.parse_time("2026-11-28T09:00:00+08:00") == datetime(2026, 11, 28, 1, tzinfo=UTC)
    for bad in ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-12:00", "2026-01-01T00:00:00", "soon"]:
        with pytest.raises(ValueError):
            v.parse_time(bad)


def test_finite_refuses_nan_infinity_and_overflow() -> None:
    assert v.finite("1.5") == 1.5
    for bad in ["nan", "inf", 10**400, "1e400", True, None, "x"]:
        assert v.finite(bad) is None


def test_text_helpers() -> None:
    assert v.bad_char("ok\ttext\n") is None
    assert v.bad_char("a\x00") == 1
    assert v.bad_char("one\nline", multiline=False) == 3
    assert v.strip_controls("a\x00b\x7fc\u0085d\n") == "abcd\n"
    assert v.escape_controls("a\x00b") == "a\\u0000b"
    assert list(v.clean_lines(["a\x00,b\n"])) == ["a,b\n"]


def test_json_guard_counts_depth_outside_strings_only() -> None:
    assert json_problem(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))[1] == "json_too_deep"  # type: ignore[index]
    assert json_problem(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is None
    brackets_in_text = json.dumps({"text": "[" * 5000 + "{" * 5000}).encode()
    assert json_problem(brackets_in_text) is None
    assert json_problem(b'{"n": ' + b"9" * 400 + b"}")[1] == "number_too_long"  # type: ignore[index]
    assert json_problem(json.dumps({"phone": "9" * 400}).encode()) is None


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (b'{"t": "a\\u0000b"}', True),
        (b'{"t": "\\u001b"}', True),
        (b'{"t": "\\ud800"}', True),  # a lone surrogate
        (b'{"t": "\\ud83d\\ude00"}', False),  # an escaped emoji: a surrogate pair
        (b'{"t": "\\\\u0000"}', False),  # an escaped backslash followed by the text u0000
        (b'{"t": "tab\\tand\\nnewline"}', False),
        (b'{"t": "\\u0009"}', False),
        (b'{"t": "\x7f"}', True),
        ('{"t": "\u0085"}'.encode(), True),
        ('{"t": "九龙坡"}'.encode(), False),
    ],
)
def test_json_guard_refuses_control_characters_however_written(body: bytes, refused: bool) -> None:
    problem = json_problem(body)
    assert (problem is not None and problem[1] == "control_character") is refused


def test_the_guard_answers_in_the_callers_language(client: Any) -> None:
    deep = "[" * 50_000 + "]" * 50_000
    r = client.post("/api/v1/cases", content=deep, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "json_too_deep"
    assert "64" in r.json()["error"]["message"]
    assert "嵌套" in r.json()["error"]["message"]  # zh-CN by default
    r = client.get("/api/v1/units/a%00b", headers={"Accept-Language": "en"})
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "control_character",
        "message": r.json()["error"]["message"],
        "details": {"where": "path"},
    }
    assert "path" in r.json()["error"]["message"] and "{" not in r.json()["error"]["message"]


def test_validation_details_are_worded_in_the_callers_language(client: Any, token_for: Any) -> None:
    headers = {**token_for("admin"), "Accept-Language": "en"}
    r = client.get("/api/v1/cases/%C2%B2", headers=headers)  # "²"
    assert r.status_code == 422
    detail = r.json()["error"]["details"][0]
    assert detail["field"] == "path.case_id"
    assert detail["problem"] == "must be a whole number written with the digits 0-9"
    r = client.get("/api/v1/cases/9223372036854775808", headers={**headers, "Accept-Language": "zh-CN"})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["problem"] == "不能大于 9223372036854775807"
