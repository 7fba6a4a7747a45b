"""Errors say something: every message key the code names exists in both languages, every placeholder
is filled by the call, every error code is a word of the one catalogue (core.errors.CODES) and never
what the caller sent."""

from __future__ import annotations

import ast
import string
from pathlib import Path
from typing import Any

from cityloop.core import i18n
from cityloop.core.errors import CODES, AppError

SRC = Path(__file__).resolve().parents[2] / "src" / "cityloop"
ERROR_CLASSES = {c.__name__ for c in (AppError, *AppError.__subclasses__())} | {"LedgerError"}


def _calls() -> list[tuple[str, str, set[str] | None, str | None]]:
    """(where, key, keyword names or None when **kwargs hides them, error_code) of every literal use."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name not in ERROR_CLASSES and name != "translate":
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            hidden = any(k.arg is None for k in node.keywords)
            kwargs = {k.arg for k in node.keywords if k.arg} - {"details", "status_code", "error_code"}
            if name == "translate" and len(node.args) > 2:
                continue
            code = next(
                (
                    k.value.value
                    for k in node.keywords
                    if k.arg == "error_code" and isinstance(k.value, ast.Constant)
                ),
                None,
            )
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            found.append((where, first.value, None if hidden else kwargs, code))
    return found


class _Any:
    """A dummy parameter value that formats under any spec ({value:g}, {share:.0%})."""

    def __format__(self, spec: str) -> str:
        return "X"


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_every_key_exists_in_both_languages_and_every_placeholder_is_filled() -> None:
    calls = _calls()
    assert len(calls) > 300
    missing, unfilled = [], []
    for where, key, kwargs, _ in calls:
        for locale in i18n.LOCALES:
            text = i18n.catalogue(locale).get(key)
            if text is None:
                missing.append(f"{where} {key} ({locale})")
                continue
            if kwargs is None:
                continue
            rendered = i18n.translate(key, locale, **dict.fromkeys(kwargs, _Any()))
            if _placeholders(text) - kwargs or "{" in rendered:
                unfilled.append(
                    f"{where} {key} ({locale}): needs {sorted(_placeholders(text))}, got {sorted(kwargs)}"
                )
    assert missing == []
    assert unfilled == []


def test_every_error_code_is_in_the_catalogue() -> None:
    codes = {code for *_, code in _calls() if code}
    codes |= {cls.code for cls in (AppError, *AppError.__subclasses__())}
    assert codes - set(CODES) == set()
    assert all(code.isidentifier() and code.islower() for code in CODES)


def test_every_catalogue_message_renders_with_its_placeholders_filled() -> None:
    for locale in i18n.LOCALES:
        for key, text in i18n.catalogue(locale).items():
            params: dict[str, Any] = dict.fromkeys(_placeholders(text), _Any())
            assert "{" not in i18n.translate(key, locale, **params).replace("{{", ""), (locale, key)


def test_a_code_given_as_a_message_parameter_fills_the_message_not_the_error_code(
    client: Any, token_for: Any
) -> None:
    """The probe's case: a sensor code the API refuses came back as the error code, the message showing
    a raw {code}."""
    headers = {**token_for("operator"), "Accept-Language": "en"}
    bad = "<b>no good</b>"
    r = client.post("/api/v1/twin/sensors", json={"code": bad, "kind": "pressure", "lon": 106.5, "lat": 29.5},
                    headers=headers)  # fmt: skip
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert bad in error["message"] and "{" not in error["message"]
