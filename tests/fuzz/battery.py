"""The bad inputs of issue #14, generated over the OpenAPI document (and the pages' id paths).

For every operation: each integer path or query parameter gets huge, negative, zero, Unicode-digit
and 2^63 values; each string parameter a NUL and an escape character; each time parameter years 0001
and 9999 and a time without zone; each JSON body field null, control characters, 1e400, a 400-digit
number, 2^63 and edge-year times; each JSON body is also sent 50,000 deep and over the size limit.
The valid rest of each request comes from the schema (required fields filled minimally).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

BIG = str(2**63)
HUGE_IDS = [BIG, str(2**64), "9" * 30, "-1", "0", "²", "١٢", "１２", "+5", "1_000", " 7", "1.0"]
PAGING = [str(2**62), BIG, "-1", "0", "²", "1e400", "9" * 400]
NUMBERS = ["1e400", "-1e400", "nan", "inf", "9" * 400]
TEXTS = ["a\x00b", "\x1b[31mx", "x\x7f", "\u0085x"]
TIMES = ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-12:00", "2026-01-01T00:00:00", "0001-01-01"]
DATES = ["0001-01-01", "9999-12-31"]
# Text parameters that may be read as a month, week, quarter, date or year: the years' edges.
EDGE_TEXTS = ["0001-01", "9999-12", "0001-W01", "9999-W53", "0001-01-01", "9999-12-31", "9999-Q4", "٢٠٢٦-٠١"]
# Raw JSON literals (some are not expressible as Python values): put into a body as they are.
RAW_NUMBERS = ["1e400", "-1e400", "9" * 400, str(2**63), str(-(2**63) - 1)]
RAW_TEXTS = ['"a\\u0000b"', '"\\u001b[31m"', '"\\ud800"', '"x\\u0085"', '"\\uffff"']
RAW_TIMES = ['"0001-01-01T00:00:00+08:00"', '"9999-12-31T23:59:59-12:00"', '"2026-01-01T00:00:00"']
RAW_DATES = ['"0001-01-01"', '"9999-12-31"']
DEEP = "[" * 50_000 + "]" * 50_000


@dataclass
class Probe:
    method: str
    path: str
    what: str
    query: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str | None = None

    @property
    def is_write(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _options(spec: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(spec, schema)
    if "anyOf" in schema:
        return [_resolve(spec, s) for s in schema["anyOf"] if s.get("type") != "null"]
    return [schema]


def _kind(spec: dict[str, Any], schema: dict[str, Any]) -> str:
    for option in _options(spec, schema):
        kind = option.get("type")
        if kind == "string" and option.get("format") in ("date-time", "date"):
            return option["format"]
        if kind:
            return str(kind)
        if "enum" in option or "const" in option:
            return "string"
    return "any"


def sample(spec: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """A minimal value of ``schema`` (required fields only)."""
    options = _options(spec, schema)
    s = options[0] if options else {}
    if "enum" in s:
        return s["enum"][0]
    if "const" in s:
        return s["const"]
    if "default" in s and s["default"] is not None:
        return s["default"]
    kind = s.get("type")
    if kind == "object" or "properties" in s:
        props = s.get("properties", {})
        return {k: sample(spec, props[k], depth + 1) for k in s.get("required", []) if depth < 4}
    if kind == "array":
        return []
    if kind == "integer":
        return max(1, int(s.get("minimum", 1)))
    if kind == "number":
        return float(s.get("minimum", 1.0)) if s.get("minimum") is not None else 1.0
    if kind == "boolean":
        return True
    if s.get("format") == "date-time":
        return "2026-11-28T09:00:00+08:00"
    if s.get("format") == "date":
        return "2026-11-28"
    return "x" * max(1, int(s.get("minLength", 1)))


def _raw_body(base: dict[str, Any], key: str, raw: str) -> bytes:
    """``base`` as JSON with ``key`` set to the raw literal ``raw``."""
    marker = "__RAW_MARKER__"
    text = json.dumps({**base, key: marker}, ensure_ascii=False)
    return text.replace(json.dumps(marker), raw).encode("utf-8")


def _fill_path(path: str, params: dict[str, str]) -> str:
    for name, value in params.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path


def probes(spec: dict[str, Any], max_body: int) -> Iterator[Probe]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            method = method.upper()
            params = op.get("parameters", [])
            fixed = {p["name"]: ("json" if p["name"] == "fmt" else "1") for p in params if p["in"] == "path"}
            for p in params:
                kind = _kind(spec, p.get("schema", {}))
                where, name = p["in"], p["name"]
                if where == "path":
                    values = HUGE_IDS if kind == "integer" else TEXTS + EDGE_TEXTS
                    for v in values:
                        yield Probe(method, _fill_path(path, {**fixed, name: v}), f"path {name}={v!r}")
                elif where == "query":
                    values = {
                        "integer": PAGING,
                        "number": NUMBERS,
                        "date-time": TIMES,
                        "date": DATES,
                    }.get(kind, TEXTS + EDGE_TEXTS)
                    for v in values:
                        yield Probe(method, _fill_path(path, fixed), f"query {name}={v!r}", query={name: v})
            body = op.get("requestBody", {}).get("content", {})
            if "application/json" not in body:
                continue
            schema = _resolve(spec, body["application/json"]["schema"])
            base = sample(spec, schema)
            url = _fill_path(path, fixed)
            if not isinstance(base, dict):
                base = {}
            for key, prop in _resolve(spec, schema).get("properties", {}).items():
                kind = _kind(spec, prop)
                by_kind = {
                    "integer": RAW_NUMBERS,
                    "number": RAW_NUMBERS,
                    "string": RAW_TEXTS,
                    "date-time": RAW_TIMES + RAW_TEXTS[:1],
                    "date": RAW_DATES,
                }
                raws = ["null", *by_kind.get(kind, RAW_TEXTS[:1] + RAW_NUMBERS[:1])]
                for raw in raws:
                    yield Probe(
                        method, url, f"body {key}={raw[:30]}", body=_raw_body(base, key, raw),
                        content_type="application/json",
                    )  # fmt: skip
            yield Probe(method, url, "body 50,000 deep", body=DEEP.encode(), content_type="application/json")
            yield Probe(
                method, url, "body over the size limit",
                body=json.dumps({"x": "y" * (max_body + 10)}).encode(), content_type="application/json",
            )  # fmt: skip
            yield Probe(
                method, url, "body 5,000-digit number",
                body=_raw_body(base, next(iter(base), "x"), "7" * 5000), content_type="application/json",
            )  # fmt: skip


def page_probes(app: Any) -> Iterator[Probe]:
    """The pages (not in the OpenAPI document) whose path takes an id: the same id battery."""
    from fastapi.routing import APIRoute

    def walk(routes: list[Any]) -> Iterator[APIRoute]:
        for r in routes:
            if isinstance(r, APIRoute):
                yield r
            elif hasattr(r, "original_router"):
                yield from walk(r.original_router.routes)

    for route in walk(app.routes):
        if route.include_in_schema or "{" not in route.path:
            continue
        names = [p.name for p in route.dependant.path_params]
        for method in sorted(route.methods or []):
            for name in names:
                fixed = {n: "1" for n in names}
                for v in [*HUGE_IDS[:6], "²", "a\x00b"]:
                    yield Probe(method, _fill_path(route.path, {**fixed, name: v}), f"page {name}={v!r}")
