"""The rules of decision 0014, read in the sources (the browser tests prove them on the served pages):
templates have no inline script, handler or style and never turn autoescaping off; our JavaScript never
writes HTML itself, hands Leaflet only elements or escaped strings, and builds every chart tooltip
with cityloop.chartTip."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "cityloop"
TEMPLATES = sorted((PACKAGE / "templates").rglob("*.html"))
SCRIPTS = sorted((PACKAGE / "static" / "js").glob("*.js"))


def test_there_is_something_to_check() -> None:
    assert len(TEMPLATES) > 40 and len(SCRIPTS) >= 8


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_templates_have_no_inline_code_and_keep_escaping(path: Path) -> None:
    text = re.sub(r"\{#.*?#\}", "", path.read_text(encoding="utf-8"), flags=re.S)  # Jinja comments
    problems = []
    for m in re.finditer(r"<script\b([^>]*)>", text, re.I):
        if "src=" not in m.group(1) and "application/json" not in m.group(1):
            problems.append(f"inline script: {m.group(0)}")
    problems += [
        f"inline handler: {m.group(0)}" for m in re.finditer(r"<[a-z][^>]*?\son[a-z]+\s*=", text, re.I)
    ]
    problems += [
        f"style attribute: {m.group(0)}" for m in re.finditer(r"<[a-z][^>]*?\sstyle\s*=", text, re.I)
    ]
    problems += [f"<style>: {m.group(0)}" for m in re.finditer(r"<style\b", text, re.I)]
    problems += [
        f"unescaped: {m.group(0)}" for m in re.finditer(r"\|\s*safe\b|autoescape\s+false|Markup", text)
    ]
    problems += [f"javascript: URL: {m.group(0)}" for m in re.finditer(r"javascript:", text, re.I)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_scripts_put_text_on_the_page_only_through_safe_js(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    code = re.sub(r"^\s*//.*$", "", text, flags=re.M)  # comments may name what the code must not do
    problems = [
        f"writes HTML: {m.group(0)}"
        for m in re.finditer(
            r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function", code
        )
    ]
    # Leaflet parses a string content as HTML: give it an element (cityloop.text, …) or a function making one.
    for m in re.finditer(
        r"\.(bindTooltip|bindPopup|setTooltipContent|setPopupContent|setContent)\(\s*", code
    ):
        rest = code[m.end() :]
        if not re.match(r"(\(\)\s*=>|[\w.]+\()", rest):
            problems.append(f"{m.group(1)} given {rest[:40]!r}: use cityloop.text(...)")
    for m in re.finditer(r"\btooltip:\s*", code):
        if not code[m.end() :].startswith("cityloop.chartTip("):
            problems.append(f"chart tooltip {code[m.end() : m.end() + 40]!r}: use cityloop.chartTip(...)")
    for m in re.finditer(r"divIcon\(\{[^}]*\bhtml:\s*([^,}]+)", code):
        if re.match(r"\s*['\"`]", m.group(1)):
            problems.append(f"divIcon html given a string {m.group(1)!r}: give it an element")
    assert not problems, "\n".join(problems)
