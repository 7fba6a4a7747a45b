"""The request each write row is tried with: a real one, which an allowed caller in scope gets through
(the control), so that a refusal of everybody else is about who they are and not about the request.

``body(world, record, caller)`` returns the keyword arguments of the request (json=, data=, files=);
``control``: "ok" — the allowed caller gets the row's answer; "past-scope" — the allowed caller gets past
every permission and scope check (the step itself may then refuse: a state that does not allow it, a
missing file), used where the loop's state makes a full success depend on more than the matrix sets up;
None — nobody to control (the reason says why).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from tests.authz.world import Rec, World

Body = Callable[[World, "Rec | None", Any], dict[str, Any]]


@dataclass(frozen=True)
class Spec:
    body: Body
    control: str | None = "ok"
    by: str | None = None  # the caller of the control (default: the first allowed account in scope)
    may_change: frozenset[str] = frozenset()  # tables a refused request may still add to
    reason: str = ""


def no_body(world: World, rec: Rec | None, who: Any) -> dict[str, Any]:
    return {}


def fetch(world: World, model: Any, **where: Any) -> Any:
    with world.factory() as s:
        return s.execute(select(model).filter_by(**where)).unique().scalar_one()


def version_of(world: World, model: Any, ident: Any) -> int:
    with world.factory() as s:
        return int(s.get(model, ident).version)


def case_version(world: World, rec: Rec) -> int:
    from cityloop.cases.models import Case

    return version_of(world, Case, rec.params["case_id"])


def task_version(world: World, rec: Rec) -> int:
    from cityloop.programme.models import Task

    return version_of(world, Task, rec.params["task_id"])


def today() -> Any:
    from cityloop.programme.workflow import today

    return today()


def geojson(rec: Rec, **props: Any) -> dict[str, Any]:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [rec.params["lon"], rec.params["lat"]]},
                "properties": props,
            }
        ],
    }
    return {
        "files": {
            "file": ("authz.geojson", json.dumps(doc, ensure_ascii=False).encode(), "application/geo+json")
        }
    }


def xlsx(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


PAST = "past-scope"
