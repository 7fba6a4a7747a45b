"""The request each write row is tried with (see tests/authz/specs.py): organisation, cases, insight;
the programme's and the places' in writes_work.py. ``SPECS`` is every row's, by row id."""

from __future__ import annotations

import json
from typing import Any

from tests.authz.specs import (
    Spec,
    case_version,
    fetch,
    no_body,
    version_of,
)
from tests.authz.world import PASSWORD, YJP, Rec, World, png

# --- organisation ------------------------------------------------------------------------------------


def unit_update_form(world: World, rec: Rec | None, who: Any) -> dict[str, Any]:
    from cityloop.org.models import Unit

    assert rec is not None
    u = fetch(world, Unit, code=rec.params["code"])
    return {
        "data": {
            "version": str(u.version),
            "code": u.code,
            "name": u.name,
            "parent": u.parent.code if u.parent else "",
            "name_en": u.name_en or "",
            "administered_by": u.administered_by or "",
            "geometry": json.dumps(u.geometry) if u.geometry else "",
        }
    }


def user_form(world: World, rec: Rec | None, who: Any) -> dict[str, Any]:
    from cityloop.org.models import User

    assert rec is not None
    u = fetch(world, User, username=rec.params["username"])
    return {"data": {"display_name": "矩阵改名", "role": u.role, "unit": u.unit.code, "active": "on"}}


ORG = {
    "POST /api/v1/units": Spec(
        lambda w, r, who: {
            "json": {
                "code": "authz-new",
                "name": "矩阵新单位",
                "kind": "community",
                "parent": r.params["code"],
            }
        }
    ),
    "PATCH /api/v1/units/{ref}": Spec(
        lambda w, r, who: {"json": {"version": _unit_version(w, r), "name_en": "Matrix renamed"}}
    ),
    "POST /api/v1/users": Spec(
        lambda w, r, who: {
            "json": {
                "username": "authz_new",
                "password": PASSWORD + "-new",
                "role": "street",
                "unit": r.params["code"],
            }
        }
    ),
    "PATCH /api/v1/users/{username}": Spec(lambda w, r, who: {"json": {"display_name": "矩阵改名"}}),
    "POST /api/v1/people": Spec(lambda w, r, who: {"json": {"name": "矩阵新人员", "unit": r.params["code"]}}),
    "POST /admin/units": Spec(
        lambda w, r, who: {
            "data": {
                "code": "authz-new",
                "name": "矩阵新单位",
                "kind": "community",
                "parent": r.params["code"],
            }
        }
    ),
    "POST /admin/units/{ref}": Spec(unit_update_form),
    "POST /admin/units/{ref}/people": Spec(lambda w, r, who: {"data": {"name": "矩阵新人员"}}),
    "POST /admin/users": Spec(
        lambda w, r, who: {
            "data": {
                "username": "authz_new",
                "password": PASSWORD + "-new",
                "role": "street",
                "unit": r.params["code"],
            }
        }
    ),
    "POST /admin/users/{username}": Spec(user_form),
    "POST /login": Spec(
        lambda w, r, who: {"data": {"username": "admin", "password": PASSWORD}},
        control=None,
        reason="anyone may sign in; sign-in and its throttling are tested in tests/org",
    ),
    "POST /logout": Spec(no_body, control=None, reason="anyone may sign out (tests/org)"),
}


def _unit_version(world: World, rec: Rec | None) -> int:
    from cityloop.org.models import Unit

    assert rec is not None
    return int(fetch(world, Unit, code=rec.params["code"]).version)


# --- cases --------------------------------------------------------------------------------------------


def _report(world: World) -> dict[str, Any]:
    lon, lat = world.point(f"{YJP}-C1-G1", 0.0001)
    return {"category": "SJ0102", "description": "矩阵：新的上报", "lon": lon, "lat": lat}


CASES = {
    "POST /api/v1/cases": Spec(lambda w, r, who: {"json": _report(w)}),
    "POST /api/v1/cases/{case_id}/actions/{action} [note]": Spec(
        lambda w, r, who: {"json": {"version": case_version(w, r), "note": "矩阵备注"}}
    ),
    "POST /api/v1/cases/{case_id}/actions/{action} [accept]": Spec(
        lambda w, r, who: {"json": {"version": case_version(w, r)}}
    ),
    "POST /api/v1/cases/{case_id}/attachments": Spec(
        lambda w, r, who: {
            "files": {"file": ("m.png", png("AUTHZ-UPLOAD"), "image/png")},
            "data": {"purpose": "report"},
        }
    ),
    "POST /api/v1/cases/{case_id}/rating": Spec(lambda w, r, who: {"json": {"score": "satisfied"}}),
    "POST /api/v1/cases/{case_id}/me-too": Spec(no_body),
    "POST /api/v1/cases/{case_id}/merge": Spec(
        lambda w, r, who: {"json": {"children": [{"id": _other_case(w, r)}]}},
        control="past-scope",
        reason="merging needs duplicates still waiting for registration; the matrix's cases are dispatched",
    ),
    "PATCH /api/v1/categories/{code}": Spec(
        lambda w, r, who: {"json": {"version": _category_version(w), "name_en": "Exposed rubbish (matrix)"}}
    ),
    "POST /api/v1/routing-rules": Spec(
        lambda w, r, who: {
            "json": {"unit": "dept-cgj", "category": "SJ0102", "area": f"{YJP}-C1-G1", "priority": 7}
        }
    ),
    "PATCH /api/v1/routing-rules/{rule_id}": Spec(
        lambda w, r, who: {"json": {"version": _rule_version(w, r), "note": "矩阵"}}
    ),
    "POST /open311/v2/requests.{fmt} [api_key]": Spec(
        lambda w, r, who: {"data": _open311(w, key=True)},
    ),
    "POST /open311/v2/requests.{fmt} [no api_key]": Spec(
        lambda w, r, who: {"data": _open311(w, key=False)},
        control=None,
        reason="nobody gets in without a key",
    ),
    "POST /cases/report": Spec(lambda w, r, who: {"data": {k: str(v) for k, v in _report(w).items()}}),
    "POST /cases/{case_id:int}/act/{action} [note]": Spec(
        lambda w, r, who: {"data": {"version": str(case_version(w, r)), "note": "矩阵备注"}}
    ),
    "POST /cases/{case_id:int}/act/{action} [accept]": Spec(
        lambda w, r, who: {"data": {"version": str(case_version(w, r))}}
    ),
    "POST /cases/{case_id:int}/merge": Spec(
        lambda w, r, who: {"data": {"child": f"{_other_case(w, r)}:1"}},
        control="past-scope",
        reason="as the API's merge",
    ),
    "POST /cases/{case_id:int}/rate": Spec(lambda w, r, who: {"data": {"score": "satisfied"}}),
    "POST /cases/{case_id:int}/me-too": Spec(lambda w, r, who: {"data": {}}),
}


def _other_case(world: World, rec: Rec | None) -> int:
    assert rec is not None
    return next(c.params["case_id"] for c in world.pools["case"] if c is not rec)


def _category_version(world: World) -> int:
    from cityloop.cases.models import Category

    return int(fetch(world, Category, code="SJ0102").version)


def _rule_version(world: World, rec: Rec | None) -> int:
    from cityloop.cases.models import RoutingRule

    assert rec is not None
    return version_of(world, RoutingRule, rec.params["rule_id"])


def _open311(world: World, *, key: bool) -> dict[str, str]:
    lon, lat = world.point(f"{YJP}-C1-G1", 0.0002)
    form = {"service_code": "SJ0102", "lat": str(lat), "long": str(lon), "description": "矩阵：开放接口上报"}
    return form | ({"api_key": world.open311_key} if key else {})


# --- case intelligence ---------------------------------------------------------------------------


def _proposal_version(world: World, rec: Rec | None) -> int:
    from cityloop.insight.models import InsightProposal

    assert rec is not None
    return version_of(world, InsightProposal, rec.params["proposal_id"])


INSIGHT = {
    "POST /api/v1/insight/models/activate": Spec(lambda w, r, who: {"json": {"version": 0}}),
    "POST /api/v1/insight/models/retrain": Spec(lambda w, r, who: {"json": {"activate": False}}),
    "POST /api/v1/insight/proposals/{proposal_id}/accept": Spec(
        lambda w, r, who: {"json": {"version": _proposal_version(w, r)}}
    ),
    "POST /api/v1/insight/proposals/{proposal_id}/dismiss": Spec(
        lambda w, r, who: {"json": {"version": _proposal_version(w, r), "reason": "矩阵"}}
    ),
    "POST /insight/proposals/{proposal_id}/{decision}": Spec(
        lambda w, r, who: {"data": {"version": str(_proposal_version(w, r)), "reason": "矩阵"}}
    ),
    "POST /insight/models/activate": Spec(lambda w, r, who: {"data": {"version": "0"}}),
}


from tests.authz.writes_work import LIVABILITY, PROGRAMME, RESOURCES, TWIN  # noqa: E402

SPECS: dict[str, Spec] = {**ORG, **CASES, **PROGRAMME, **TWIN, **LIVABILITY, **RESOURCES, **INSIGHT}
