"""The requests of the write rows of the ten actions, the twin, the 15-minute circle and resources."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.authz.specs import (
    PAST,
    Spec,
    geojson,
    no_body,
    task_version,
    today,
    version_of,
    xlsx,
)
from tests.authz.world import YJP, Rec, World, png

# --- the ten actions ------------------------------------------------------------------------------------


def _lead_person(world: World, rec: Rec) -> tuple[str, str]:
    """The action's lead unit and a person of it (by id: names may repeat)."""
    from cityloop.org.models import Person
    from cityloop.programme.models import Action

    with world.factory() as s:
        action = s.get(Action, rec.params["action_id"])
        unit = action.lead_unit
        person = (
            s.execute(select(Person).where(Person.unit_id == unit.id).order_by(Person.id)).scalars().first()
        )
        return unit.code, str(person.id)


def task_json(world: World, rec: Rec | None, who: Any) -> dict[str, Any]:
    assert rec is not None
    unit, person = _lead_person(world, rec)
    start = today()
    return {
        "action": rec.params["action"],
        "name": "矩阵新任务",
        "indicator": "完成率",
        "indicator_unit": "%",
        "baseline": 0,
        "target_value": 100,
        "responsible_unit": unit,
        "responsible_person": person,
        "starts_on": start.isoformat(),
        "due_on": (start + timedelta(days=60)).isoformat(),
        "milestones": [
            {"name": "完成", "due_on": (start + timedelta(days=60)).isoformat(), "planned_pct": 100}
        ],
    }


def task_form(world: World, rec: Rec | None, who: Any) -> dict[str, Any]:
    body = task_json(world, rec, who)
    ms = body.pop("milestones")[0]
    data = {k: str(v) for k, v in body.items()}
    return {"data": data | {"ms_name": ms["name"], "ms_due": ms["due_on"], "ms_pct": str(ms["planned_pct"])}}


def replan(world: World, rec: Rec | None, who: Any) -> dict[str, Any]:
    from cityloop.programme.models import Task

    assert rec is not None
    with world.factory() as s:
        t = s.get(Task, rec.params["task_id"])
        due = t.due_on
        version = t.version
    return {
        "json": {
            "version": version,
            "milestones": [{"name": "矩阵里程碑", "due_on": due.isoformat(), "planned_pct": 100}],
        }
    }


def _problem_deadline() -> str:
    return (today() + timedelta(days=10)).isoformat()


PROGRAMME = {
    "POST /api/v1/programme/programmes": Spec(
        lambda w, r, who: {"json": {"code": "AUTHZ", "name": "矩阵计划", "year": 2027}}
    ),
    "PATCH /api/v1/programme/programmes/{code}/settings": Spec(lambda w, r, who: {"json": {}}),
    "POST /api/v1/programme/checklists": Spec(
        lambda w, r, who: {"json": {"code": "AUTHZ", "name": "矩阵清单", "items": ["一项"]}}
    ),
    "POST /api/v1/programme/actions": Spec(
        lambda w, r, who: {"json": {"code": "AUTHZ", "name": "矩阵行动", "lead_unit": "dept-cgj"}}
    ),
    "POST /api/v1/programme/tasks": Spec(lambda w, r, who: {"json": task_json(w, r, who)}),
    "PATCH /api/v1/programme/tasks/{task_id}": Spec(
        lambda w, r, who: {"json": {"version": task_version(w, r), "target": "矩阵目标"}}
    ),
    "PUT /api/v1/programme/tasks/{task_id}/milestones": Spec(
        replan, control=PAST, reason="done milestones stay"
    ),
    "POST /api/v1/programme/tasks/{task_id}/reports": Spec(
        lambda w, r, who: {"json": {"value": 1, "narrative": "矩阵进度"}}, control=PAST, reason="task state"
    ),
    "POST /api/v1/programme/tasks/{task_id}/submit": Spec(
        lambda w, r, who: {"json": {"note": "矩阵"}}, control=PAST, reason="needs a finished task"
    ),
    "POST /api/v1/programme/tasks/{task_id}/acceptance": Spec(
        lambda w, r, who: {"json": {"passed": True, "results": [], "evidence": []}},
        control=PAST,
        reason="needs a submitted task and evidence",
    ),
    "POST /api/v1/programme/evidence": Spec(
        lambda w, r, who: {
            "files": {"file": ("m.png", png("AUTHZ-EVIDENCE-NEW"), "image/png")},
            "data": {"task_id": str(r.params["task_id"])},
        }
    ),
    "POST /api/v1/programme/problems": Spec(
        lambda w, r, who: {
            "json": {"task_id": r.params["task_id"], "title": "矩阵问题", "deadline": _problem_deadline()}
        }
    ),
    "POST /api/v1/programme/problems/{problem_id}/rectify": Spec(
        lambda w, r, who: {"json": {"rectification": "矩阵整改"}}, control=PAST, reason="problem state"
    ),
    "POST /api/v1/programme/problems/{problem_id}/close": Spec(
        lambda w, r, who: {"json": {"evidence": [], "note": "矩阵"}}, control=PAST, reason="needs evidence"
    ),
    "POST /api/v1/programme/notices/{notice_id}/reply": Spec(
        lambda w, r, who: {"json": {"reply": "矩阵回复"}}, control=PAST, reason="notice state"
    ),
    "POST /api/v1/programme/ledger/import": Spec(
        lambda w, r, who: {"files": {"file": ("l.xlsx", xlsx([["矩阵"]]), "application/octet-stream")}},
        control=PAST,
        reason="an empty ledger is refused with 422",
    ),
    "POST /api/v1/programme/supervision/scan": Spec(no_body),
    "POST /programme/actions": Spec(
        lambda w, r, who: {"data": {"code": "AUTHZ", "name": "矩阵行动", "lead_unit": "dept-cgj"}}
    ),
    "POST /programme/tasks": Spec(task_form),
    "POST /programme/tasks/{task_id}/report": Spec(
        lambda w, r, who: {"data": {"value": "1", "narrative": "矩阵进度"}}, control=PAST, reason="task state"
    ),
    "POST /programme/tasks/{task_id}/submit": Spec(
        lambda w, r, who: {"data": {"note": "矩阵"}}, control=PAST, reason="needs a finished task"
    ),
    "POST /programme/tasks/{task_id}/accept": Spec(
        lambda w, r, who: {"data": {"verdict": "pass", "comment": "矩阵"}},
        control=PAST,
        reason="needs evidence",
    ),
    "POST /programme/tasks/{task_id}/milestones": Spec(
        lambda w, r, who: {
            "data": {
                "version": str(replan(w, r, who)["json"]["version"]),
                "ms_name": "矩阵里程碑",
                "ms_due": replan(w, r, who)["json"]["milestones"][0]["due_on"],
                "ms_pct": "100",
            }
        },
        control=PAST,
        reason="done milestones stay",
    ),
    "POST /programme/tasks/{task_id}/problems": Spec(
        lambda w, r, who: {"data": {"title": "矩阵问题", "deadline": _problem_deadline()}}
    ),
    "POST /programme/problems/{problem_id}/rectify": Spec(
        lambda w, r, who: {"data": {"rectification": "矩阵整改"}}, control=PAST, reason="problem state"
    ),
    "POST /programme/problems/{problem_id}/close": Spec(
        lambda w, r, who: {"data": {"note": "矩阵"}}, control=PAST, reason="needs evidence"
    ),
    "POST /programme/notices/{notice_id}/reply": Spec(
        lambda w, r, who: {"data": {"reply": "矩阵回复"}}, control=PAST, reason="notice state"
    ),
    "POST /programme/ledger": Spec(
        lambda w, r, who: {"files": {"file": ("l.xlsx", xlsx([["矩阵"]]), "application/octet-stream")}},
        control=PAST,
        reason="an empty ledger is refused",
    ),
    "POST /programme/settings": Spec(
        lambda w, r, who: {"data": {}}, control=PAST, reason="the form's fields"
    ),
}


# --- twin -------------------------------------------------------------------------------------------------


def impact_body(world: World, rec: Rec | None, who: Any) -> dict[str, Any]:
    assert rec is not None
    kind = {
        "demo-water": {"pipe": "10"},
        "demo-gas": {"lon": 106.5, "lat": 29.5},
        "demo-drainage": {"rain_mm": 30},
    }
    return {"json": kind[rec.params["name"]]}


def _reading(rec: Rec | None) -> dict[str, Any]:
    from cityloop.core.clock import now

    assert rec is not None
    return {
        "json": [
            {"sensor": rec.params["code"], "ts": (now() - timedelta(minutes=5)).isoformat(), "value": 12.5}
        ]
    }


TWIN = {
    "POST /api/v1/twin/networks": Spec(
        lambda w, r, who: {
            "data": {"kind": "water", "name": r.params["name"]}
            | ({"unit": "util-water"} if who.district else {}),
            "files": {"file": ("net.inp", b"[TITLE]\nnot a model\n", "application/octet-stream")},
        },
        control=PAST,
        reason="the file is not a model (422): importing a real one is tests/twin's",
    ),
    "POST /api/v1/twin/networks/{name}/impact": Spec(impact_body),
    "POST /api/v1/twin/sensors": Spec(
        lambda w, r, who: {
            "json": {"code": "AUTHZ-S1", "kind": "pressure", "network": r.params["name"], "asset": "10"}
        },
        control=PAST,
        reason="the asset must exist in the network's model",
    ),
    "POST /api/v1/telemetry": Spec(
        lambda w, r, who: _reading(r), may_change=frozenset({"twin_dead_letters"}), by="operator"
    ),
}

# --- 15-minute circle and resources ------------------------------------------------------------------------

LIVABILITY = {
    "POST /api/v1/livability/types": Spec(
        lambda w, r, who: {
            "json": {"code": "authz_type", "name": "矩阵设施", "name_en": "Matrix", "threshold_minutes": 15}
        }
    ),
    "PATCH /api/v1/livability/types/{code}": Spec(lambda w, r, who: {"json": {"name": "矩阵改名"}}),
    "POST /api/v1/livability/facilities": Spec(
        lambda w, r, who: {
            "json": {"type": "park", "name": "矩阵公园", "lon": r.params["lon"], "lat": r.params["lat"]}
        }
    ),
    "DELETE /api/v1/livability/facilities/{facility_id}": Spec(no_body),
    "POST /api/v1/livability/facilities/import": Spec(
        lambda w, r, who: geojson(r, name="矩阵公园") | {"data": {"type": "park"}}
    ),
    "POST /api/v1/livability/residential-areas": Spec(
        lambda w, r, who: {
            "json": {
                "name": "矩阵小区",
                "lon": r.params["lon"],
                "lat": r.params["lat"],
                "population": 100,
                "elderly_population": 10,
            }
        }
    ),
    "PATCH /api/v1/livability/residential-areas/{area_id}": Spec(
        lambda w, r, who: {"json": {"population": 1234}}
    ),
    "POST /api/v1/livability/residential-areas/import": Spec(
        lambda w, r, who: geojson(r, name="矩阵小区", population=100, elderly_population=10)
    ),
    "POST /api/v1/livability/accessibility/runs": Spec(lambda w, r, who: {"json": {}}),
    "POST /api/v1/livability/site-plans": Spec(
        lambda w, r, who: {"json": {"type": "park", "k": 1, "candidates": [list(w.point(YJP))]}}
    ),
    "POST /api/v1/livability/plan-sites/{site_id}/propose-task": Spec(no_body),
    "POST /livability/runs": Spec(lambda w, r, who: {"data": {"minutes": "15", "speed_kmh": "4.5"}}),
    "POST /livability/siting": Spec(lambda w, r, who: {"data": {"type": "park", "k": "1"}}),
    "POST /livability/plan-sites/{site_id}/propose-task": Spec(lambda w, r, who: {"data": {}}),
    "POST /livability/data/import": Spec(
        lambda w, r, who: geojson(r, name="矩阵公园") | {"data": {"kind": "facilities", "type": "park"}}
    ),
}


def _idle_version(world: World, rec: Rec | None) -> int:
    from cityloop.resources.models import IdleSpace

    assert rec is not None
    return version_of(world, IdleSpace, rec.params["space_id"])


def grading_system(world: World, rec: Rec | None, who: Any) -> dict[str, Any]:
    current = world.api.get("/api/v1/resources/grading-system", headers=world.tokens["admin"]).json()
    keep = ("code", "name", "name_en", "basis", "grades", "indicators")
    return {"json": {k: current[k] for k in keep if k in current}}


def building_workbook(world: World, rec: Rec | None, who: Any) -> dict[str, Any]:
    template = world.api.get("/api/v1/resources/buildings/template.xlsx", headers=world.tokens["admin"])
    return {"files": {"file": ("b.xlsx", _fill_buildings(template.content, rec), "application/octet-stream")}}


def _fill_buildings(template: bytes, rec: Rec | None) -> bytes:
    """The district's own template with one building at the record's point."""
    from openpyxl import load_workbook

    assert rec is not None
    wb = load_workbook(io.BytesIO(template))
    ws = wb.worksheets[0]
    values = {
        "code": "AUTHZ-B1",
        "name": "矩阵大楼",
        "kind": "office",
        "lon": rec.params["lon"],
        "lat": rec.params["lat"],
        "floor_area_m2": 1000,
    }
    # Headers read "名称 [name]": the code in brackets names the column.
    codes = [str(c.value or "").rsplit("[", 1)[-1].rstrip("]") for c in ws[1]]
    row = [values.get(code) for code in codes]
    ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


RESOURCES = {
    "POST /api/v1/resources/idle-spaces": Spec(
        lambda w, r, who: {
            "json": {
                "name": "矩阵闲置",
                "lon": r.params["lon"],
                "lat": r.params["lat"],
                "area_m2": 100,
                "owner": "矩阵",
                "condition": "fair",
            }
        }
    ),
    "PATCH /api/v1/resources/idle-spaces/{space_id}": Spec(
        lambda w, r, who: {"json": {"version": _idle_version(w, r), "note": "矩阵"}}
    ),
    "DELETE /api/v1/resources/idle-spaces/{space_id}": Spec(no_body),
    "POST /api/v1/resources/idle-spaces/{space_id}/transitions": Spec(
        lambda w, r, who: {"json": {"action": "plan"}}
    ),
    "POST /api/v1/resources/buildings": Spec(
        lambda w, r, who: {
            "json": {
                "code": "AUTHZ-B1",
                "name": "矩阵大楼",
                "lon": r.params["lon"],
                "lat": r.params["lat"],
                "floor_area_m2": 1000,
            }
        }
    ),
    "POST /api/v1/resources/buildings/import": Spec(building_workbook),
    "PUT /api/v1/resources/buildings/{code}/reports/{period}": Spec(
        lambda w, r, who: {"json": {"values": {"occupancy_rate": 80}}},
        control=PAST,
        reason="the indicator set",
    ),
    "PUT /api/v1/resources/grading-system": Spec(grading_system),
    "POST /resources/idle-spaces": Spec(
        lambda w, r, who: {
            "data": {
                "name": "矩阵闲置",
                "lon": str(r.params["lon"]),
                "lat": str(r.params["lat"]),
                "area_m2": "100",
                "owner": "矩阵",
                "condition": "fair",
            }
        }
    ),
    "POST /resources/idle-spaces/{space_id}/{action}": Spec(lambda w, r, who: {"data": {}}),
    "POST /resources/buildings/import": Spec(building_workbook),
}
