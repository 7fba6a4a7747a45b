"""Every route speaks the one vocabulary: a new route taking a plain ``int``, ``float`` or ``datetime``,
or a body model outside ``core.validation.Input``, fails here before it can answer 500."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from annotated_types import Ge, Le
from pydantic import BaseModel

from cityloop.core.validation import MAX_INT, MIN_INT, Input


def _routes(app: Any) -> Iterator[Any]:
    from fastapi.routing import APIRoute

    def walk(routes: list[Any]) -> Iterator[Any]:
        for r in routes:
            if isinstance(r, APIRoute):
                yield r
            elif hasattr(r, "original_router"):
                yield from walk(r.original_router.routes)

    yield from walk(app.routes)


def _params(route: Any) -> list[Any]:
    from fastapi.dependencies.utils import get_flat_params

    out = list(get_flat_params(route.dependant))
    stack = [route.dependant]
    while stack:  # form fields and bodies, of the route and of its dependencies
        dep = stack.pop()
        out.extend(dep.body_params)
        stack.extend(dep.dependencies)
    return out


def _problems(annotation: Any, metadata: list[Any]) -> list[str]:
    """What is wrong with a parameter's type: unbounded ints, floats without the finite rule, times
    without the range rule, body models outside the vocabulary."""
    found: list[str] = []
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _problems(args[0], [*metadata, *args[1:]])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) or (
        args
        and origin
        in (
            list,
            tuple,
            set,
            dict,
        )
    ):
        for arg in args:
            found += _problems(arg, metadata if origin not in (list, tuple, set, dict) else [])
        return found
    names = {
        getattr(m, "__name__", "") or getattr(getattr(m, "func", None), "__name__", "") for m in metadata
    }
    if annotation is bool:
        return []
    if annotation is int:
        lo = max((m.ge for m in metadata if isinstance(m, Ge)), default=None)
        hi = min((m.le for m in metadata if isinstance(m, Le)), default=None)
        if lo is None or hi is None or lo < MIN_INT or hi > MAX_INT or "_ascii_int" not in names:
            found.append("int without the Int/Id/Page bounds")
    elif annotation is float and "_finite" not in names:
        found.append("float that is not Finite")
    elif annotation is datetime and "_check_time" not in names:
        found.append("datetime that is not Timestamp")
    elif annotation is date and "_check_date" not in names:
        found.append("date that is not Day")
    elif (
        inspect.isclass(annotation)
        and issubclass(annotation, BaseModel)
        and not issubclass(annotation, Input)
    ):
        found.append(f"body model {annotation.__name__} is not a core.validation.Input")
    return found


def _metadata(field: Any) -> list[Any]:
    meta = list(field.field_info.metadata)
    return meta


def test_every_route_parameter_and_body_uses_the_vocabulary(client: Any) -> None:
    wrong = []
    routes = list(_routes(client.app))
    for route in routes:
        for param in _params(route):
            annotation = param.field_info.annotation
            for problem in _problems(annotation, _metadata(param)):
                source = inspect.getsourcefile(route.endpoint) or "?"
                wrong.append(
                    f"{source.split('cityloop/')[-1]} {route.endpoint.__name__}({param.name}): {problem}"
                )
    assert len(routes) > 200
    assert wrong == []


def test_the_structural_check_catches_a_plain_int_and_float() -> None:
    assert _problems(int, []) == ["int without the Int/Id/Page bounds"]
    assert _problems(float | None, []) == ["float that is not Finite"]
    assert _problems(datetime, []) == ["datetime that is not Timestamp"]

    class Loose(BaseModel):
        x: int

    assert _problems(Loose, []) == ["body model Loose is not a core.validation.Input"]
    from cityloop.core.validation import Finite, Id, Timestamp

    assert _problems(Id, []) == [] and _problems(Finite | None, []) == [] and _problems(Timestamp, []) == []


def test_every_integer_in_the_openapi_document_is_bounded(client: Any) -> None:
    """The OpenAPI document says what the routes enforce: no integer there without both bounds."""
    spec = client.get("/openapi.json").json()
    loose: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "integer" and ("maximum" not in node or "minimum" not in node):
                loose.append(where)
            for key, sub in node.items():
                walk(sub, f"{where}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{where}/{i}")

    schemas = spec["components"]["schemas"]
    inputs: set[str] = set()

    def refs(node: Any) -> None:  # the schemas a request body reaches
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref.rsplit("/", 1)[-1] not in inputs:
                inputs.add(ref.rsplit("/", 1)[-1])
                refs(schemas[ref.rsplit("/", 1)[-1]])
            for sub in node.values():
                refs(sub)
        elif isinstance(node, list):
            for sub in node:
                refs(sub)

    for path, item in spec["paths"].items():
        for method, op in item.items():
            walk(op.get("parameters", []), f"{method.upper()} {path}")
            refs(op.get("requestBody", {}))
    walk({name: schemas[name] for name in sorted(inputs)}, "schemas")
    assert loose == []
