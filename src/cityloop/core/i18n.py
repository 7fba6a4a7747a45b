"""Translations: zh-CN first, English second.

Messages live in ``cityloop/locales/<locale>/<domain>.json`` (flat ``"key": "text"`` maps, with
``{name}`` placeholders), one file per domain so domains never edit each other's catalogue. A key
missing in a language falls back to zh-CN, then to the key itself.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
_DIR = Path(__file__).resolve().parent.parent / "locales"


@lru_cache
def catalogue(locale: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((_DIR / locale).glob("*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def normalise(locale: str | None) -> str:
    if not locale:
        return DEFAULT_LOCALE
    low = locale.strip().lower()
    if low.startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def from_accept_language(header: str | None) -> str | None:
    """Best supported locale from an Accept-Language header, or None when it names none."""
    if not header:
        return None
    ranked: list[tuple[float, str]] = []
    for part in header.split(","):
        lang, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        ranked.append((weight, lang.strip().lower()))
    for _, lang in sorted(ranked, reverse=True):
        if lang.startswith("zh"):
            return "zh-CN"
        if lang.startswith("en"):
            return "en"
    return None


def translate(key: str, locale: str | None = None, **params: Any) -> str:
    loc = normalise(locale)
    text = catalogue(loc).get(key) or catalogue(DEFAULT_LOCALE).get(key) or key
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text
