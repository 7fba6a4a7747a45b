"""The authorization table: one row per route (method × path), saying who may call it and which records
each caller may reach through it. It is the documentation (docs/authorization.md is generated from it:
``.venv/bin/python -m tests.authz.doc``) and the expectation tests/authz/test_matrix.py holds the running
application to. A route of the app without a row here fails that test; so does a row without a route.

Reading a row: ``R(method, path, who, scope, on=…)``

- ``who``: the roles that may call it (``anonymous`` is the caller with no sign-in and no token); anybody
  else is refused — 401 from the API and a redirect to /login from a page when not signed in, 403 when
  signed in (404 where the caller cannot see the record either).
- ``on``: the kind of record the path (or a query parameter) names, or that the answer lists.
- ``scope``: which of those records a caller may reach (tests/authz/scopes.py spells each one out). Out of
  scope answers 403 or 404 and shows nothing of the record; a list never holds an out-of-scope row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.authz.scopes import (
    ACTION_LEAD,
    ACTIONS,
    ADMIN,
    CASE_ACT,
    CASE_PUBLIC,
    CASE_READ,
    DISTRICT,
    EVIDENCE,
    HOTSPOT,
    INBOX,
    LEAD_15MIN,
    LIVABILITY_VIEW,
    NOTICE_READ,
    NOTICE_RESPONSIBLE,
    OFFICE,
    OPEN311_PUBLIC,
    OPEN_CASE,
    OWN_REPORTS,
    PLACE,
    PROBLEM_CLOSE,
    PROBLEM_READ,
    PROBLEM_RESPONSIBLE,
    PROGRAMME,
    PROPOSAL,
    PUBLIC,
    SIGNED_IN,
    STAFF,
    SUBTREE,
    TASK_ACCEPT,
    TASK_LEAD,
    TASK_READ,
    TASK_RESPONSIBLE,
    UNIT_STAFF,
    Scope,
    Who,
)

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
NOBODY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class R:
    method: str
    path: str
    who: frozenset[str]
    scope: Scope | None = None
    on: str | None = None  # the kind of record named or listed (see world.py for the samples)
    lists: bool = False  # the answer is a list of `on` records, filtered by `scope`
    also: Who | None = None  # an allowance beyond the role
    ok: int = 200  # the answer to an allowed caller in scope
    refused: tuple[int, ...] = (403, 404)  # the answer out of scope
    params: dict[str, str] = field(default_factory=dict)  # fixed path parameters
    query: dict[str, str] = field(default_factory=dict)  # "{name}" is filled from the record
    shows: bool = True  # an in-scope answer shows the record (its marker text)
    ids: tuple[str, str] | None = None  # (where the JSON answer lists ids, the record's id parameter)
    variant: str = ""  # several rows of one route: each a case of its rule
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def id(self) -> str:
        return f"{self.key} [{self.variant}]" if self.variant else self.key

    @property
    def page(self) -> bool:
        """Pages (and the page-only JSON the pages fetch) sign in with the browser session."""
        return not self.path.startswith(("/api/", "/open311/", "/healthz", "/openapi"))

    @property
    def safe(self) -> bool:
        return self.method in SAFE


RATE = frozenset({"citizen", "dispatcher"})
LIV_WRITE = frozenset({"admin", "supervisor", "street"})  # livability.write, resources.write
ANALYSE = frozenset({"admin", "supervisor", "leader"})  # livability.analyse / propose_task
INDICATORS = frozenset(
    {"admin", "supervisor", "leader", "dispatcher", "department", "street", "enforcement", "operator"}
)
PLAN = OFFICE | {"department"}
REPORT = OFFICE | {"department", "street"}
ACCEPT = OFFICE | {"leader", "department"}  # also: raise and close problems
TWIN_WRITE = frozenset({"admin", "operator"})
HOTSPOTS = DISTRICT | {"department", "street"}
PROPOSALS = OFFICE | {"department", "street"}
MODELS = frozenset({"admin", "supervisor", "dispatcher"})
ROUTING = frozenset({"admin", "supervisor", "dispatcher"})

# fmt: off
ROWS: list[R] = [
    # --- the platform --------------------------------------------------------------------------------
    R("GET", "/healthz", PUBLIC, note="liveness probe"),
    R("GET", "/openapi.json", PUBLIC, note="the API's description (no data)"),
    R("GET", "/docs", PUBLIC, note="the API explorer page (no data; it reads /openapi.json)"),
    # --- organisation: API -----------------------------------------------------------------------------
    R("GET", "/api/v1/me", SIGNED_IN, note="the caller's own account and scope"),
    R("GET", "/api/v1/units", STAFF, SUBTREE, on="unit", lists=True),
    R("GET", "/api/v1/units/{ref}", STAFF, SUBTREE, on="unit"),
    R("POST", "/api/v1/units", ADMIN, SUBTREE, on="unit", ok=201, note="the parent must be in scope"),
    R("PATCH", "/api/v1/units/{ref}", ADMIN, SUBTREE, on="unit"),
    R("GET", "/api/v1/users", OFFICE, SUBTREE, on="user", lists=True),
    R("POST", "/api/v1/users", ADMIN, SUBTREE, on="unit", ok=201, note="the account's unit must be in scope"),
    R("PATCH", "/api/v1/users/{username}", ADMIN, SUBTREE, on="user"),
    R("GET", "/api/v1/people", STAFF, SUBTREE, on="person", lists=True, note="named staff (责任到人)"),
    R("POST", "/api/v1/people", ADMIN, SUBTREE, on="unit", ok=201),
    # --- organisation: pages ---------------------------------------------------------------------------
    R("GET", "/admin/units", STAFF, SUBTREE, on="unit", lists=True),
    R("GET", "/admin/units/new", ADMIN),
    R("GET", "/admin/units/{ref}", STAFF, SUBTREE, on="unit"),
    R("POST", "/admin/units", ADMIN, SUBTREE, on="unit", ok=303, note="the parent must be in scope"),
    R("POST", "/admin/units/{ref}", ADMIN, SUBTREE, on="unit", ok=303),
    R("POST", "/admin/units/{ref}/people", ADMIN, SUBTREE, on="unit", ok=303),
    R("GET", "/admin/users", OFFICE, SUBTREE, on="user", lists=True),
    R("POST", "/admin/users", ADMIN, SUBTREE, on="unit", ok=303),
    R("GET", "/admin/users/{username}", ADMIN, SUBTREE, on="user"),
    R("POST", "/admin/users/{username}", ADMIN, SUBTREE, on="user", ok=303),
    R("GET", "/admin/audit", OFFICE, note="the audit trail of the whole district"),
    # --- sign-in and the shell ----------------------------------------------------------------------------
    R("GET", "/login", PUBLIC),
    R("POST", "/login", PUBLIC, note="checks its own CSRF token; throttled (tests/org)"),
    R("POST", "/logout", PUBLIC, note="ends the browser session"),
    R("GET", "/lang/{code}", PUBLIC, ok=303, params={"code": "en"}, note="sets the language cookie"),
    R("GET", "/", SIGNED_IN, note="home page of each role"),
    R("GET", "/map", SIGNED_IN, note="district map"),
    # --- cases: API ------------------------------------------------------------------------------------
    R("POST", "/api/v1/cases", SIGNED_IN, ok=201, note="anyone reports anywhere; the answer is their case"),
    R("GET", "/api/v1/cases", SIGNED_IN, CASE_READ, on="case", lists=True),
    R("GET", "/api/v1/cases/{case_id}", SIGNED_IN, CASE_READ, on="case"),
    R("GET", "/api/v1/cases/{case_id}/timeline", SIGNED_IN, CASE_READ, on="case", shows=False,
        note="citizens: public events"),
    R("POST", "/api/v1/cases/{case_id}/actions/{action}", STAFF, CASE_READ, on="case",
        params={"action": "note"}, variant="note", note="a note needs only sight of the case"),
    R("POST", "/api/v1/cases/{case_id}/actions/{action}", UNIT_STAFF, CASE_ACT, on="case",
        params={"action": "accept"}, variant="accept",
        note="受理 of a dispatched case: the units' step; every other step likewise by the loop table"),
    R("POST", "/api/v1/cases/{case_id}/attachments", SIGNED_IN, CASE_READ, on="case", ok=201),
    R("GET", "/api/v1/cases/{case_id}/attachments/{attachment_id}", SIGNED_IN, CASE_READ, on="case"),
    R("POST", "/api/v1/cases/{case_id}/rating", RATE, CASE_ACT, on="closed_case", ok=201,
        note="the reporter, or a dispatcher after a call-back"),
    R("POST", "/api/v1/cases/{case_id}/me-too", frozenset({"citizen"}), OPEN_CASE, on="case", ok=201,
        refused=(409,), note="one's own or a closed case: 409"),
    R("GET", "/api/v1/cases/{case_id}/duplicates", frozenset({"dispatcher"}), CASE_READ, on="case",
        shows=False),
    R("POST", "/api/v1/cases/{case_id}/merge", frozenset({"dispatcher"}), CASE_ACT, on="case"),
    R("GET", "/api/v1/public/cases/{tracking_no}", PUBLIC, CASE_PUBLIC, on="case",
        note="coarse place, state, public events"),
    R("GET", "/api/v1/categories", PUBLIC, note="reporting apps need the leaves"),
    R("PATCH", "/api/v1/categories/{code}", ADMIN, on="category"),
    R("GET", "/api/v1/routing-rules", ROUTING),
    R("POST", "/api/v1/routing-rules", ADMIN, ok=201),
    R("PATCH", "/api/v1/routing-rules/{rule_id}", ADMIN, on="rule"),
    R("GET", "/api/v1/cases/map", STAFF, CASE_READ, on="case", lists=True, query={"bbox": "{bbox}"}),
    R("GET", "/api/v1/cases/indicators", INDICATORS, SUBTREE, on="unit", query={"unit": "{code}"},
        shows=False),
    R("GET", "/api/v1/cases/indicators/trend", INDICATORS, SUBTREE, on="unit", query={"unit": "{code}"},
        shows=False),
    R("GET", "/api/v1/cases/indicators.xlsx", INDICATORS, SUBTREE, on="unit", query={"unit": "{code}"},
        shows=False),
    # --- cases: Open311 GeoReport v2 (public by the standard) ------------------------------------------
    R("GET", "/open311/v2/discovery.{fmt}", PUBLIC, params={"fmt": "json"}),
    R("GET", "/open311/v2/services.{fmt}", PUBLIC, params={"fmt": "json"}),
    R("GET", "/open311/v2/services/{name}", PUBLIC, params={"name": "SJ0102.json"}),
    R("GET", "/open311/v2/requests.{fmt}", PUBLIC, OPEN311_PUBLIC, on="case", lists=True,
        params={"fmt": "json"}),
    R("GET", "/open311/v2/requests/{name}", PUBLIC, OPEN311_PUBLIC, on="case",
        params={"name": "{tracking_no}.json"}),
    R("GET", "/open311/v2/tokens/{name}", PUBLIC, on="open311_token"),
    R("POST", "/open311/v2/requests.{fmt}", PUBLIC, params={"fmt": "json"}, variant="api_key",
        note="an app with a valid api_key, no sign-in"),
    R("POST", "/open311/v2/requests.{fmt}", NOBODY, params={"fmt": "json"}, variant="no api_key",
        note="without a valid api_key: 403 for every caller"),
    # --- cases: pages -----------------------------------------------------------------------------------
    R("GET", "/cases/indicators", INDICATORS, SUBTREE, on="unit", query={"unit": "{code}"}, shows=False),
    R("GET", "/cases/queue", STAFF, CASE_READ, on="case", lists=True),
    R("GET", "/cases/inbox", UNIT_STAFF, INBOX, on="case", lists=True),
    R("GET", "/cases/overdue", DISTRICT, note="督办: the district roles"),
    R("GET", "/cases/report", SIGNED_IN),
    R("POST", "/cases/report", SIGNED_IN, ok=303),
    R("GET", "/cases/nearby", SIGNED_IN, note="open reports near a pin (“me too”): category and place only"),
    R("GET", "/cases/map/areas", SIGNED_IN, note="district and street outlines"),
    R("GET", "/cases/{case_id:int}", SIGNED_IN, CASE_READ, on="case"),
    R("POST", "/cases/{case_id:int}/act/{action}", STAFF, CASE_READ, on="case", ok=303,
        params={"action": "note"}, variant="note"),
    R("POST", "/cases/{case_id:int}/act/{action}", UNIT_STAFF, CASE_ACT, on="case", ok=303,
        params={"action": "accept"}, variant="accept"),
    R("POST", "/cases/{case_id:int}/merge", frozenset({"dispatcher"}), CASE_ACT, on="case", ok=303),
    R("POST", "/cases/{case_id:int}/rate", RATE, CASE_ACT, on="closed_case", ok=303),
    R("POST", "/cases/{case_id:int}/me-too", frozenset({"citizen"}), OPEN_CASE, on="case", ok=303,
        refused=(409,)),
    R("GET", "/cases/mine", SIGNED_IN, OWN_REPORTS, on="case", lists=True),
    R("GET", "/track", PUBLIC, note="the tracking-number form"),
    R("GET", "/track/{tracking_no}", PUBLIC, CASE_PUBLIC, on="case"),
    # --- the ten actions: API --------------------------------------------------------------------------
    R("GET", "/api/v1/programme/programmes", PROGRAMME),
    R("POST", "/api/v1/programme/programmes", OFFICE, ok=201),
    R("PATCH", "/api/v1/programme/programmes/{code}/settings", OFFICE, on="programme"),
    R("GET", "/api/v1/programme/checklists", PROGRAMME),
    R("POST", "/api/v1/programme/checklists", OFFICE, ok=201),
    R("GET", "/api/v1/programme/actions", PROGRAMME, note="every programme role sees the list of actions"),
    R("GET", "/api/v1/programme/actions/{action_id}", PROGRAMME, ACTIONS, on="action"),
    R("POST", "/api/v1/programme/actions", OFFICE, ok=201),
    R("GET", "/api/v1/programme/tasks", PROGRAMME, TASK_READ, on="task", lists=True),
    R("POST", "/api/v1/programme/tasks", PLAN, ACTION_LEAD, on="action", ok=201),
    R("GET", "/api/v1/programme/tasks/{task_id}", PROGRAMME, TASK_READ, on="task"),
    R("PATCH", "/api/v1/programme/tasks/{task_id}", PLAN, TASK_LEAD, on="task"),
    R("PUT", "/api/v1/programme/tasks/{task_id}/milestones", PLAN, TASK_LEAD, on="task"),
    R("GET", "/api/v1/programme/tasks/{task_id}/timeline", PROGRAMME, TASK_READ, on="task", shows=False),
    R("GET", "/api/v1/programme/tasks/{task_id}/reports", PROGRAMME, TASK_READ, on="task", shows=False),
    R("POST", "/api/v1/programme/tasks/{task_id}/reports", REPORT, TASK_RESPONSIBLE, on="task", ok=201),
    R("POST", "/api/v1/programme/tasks/{task_id}/submit", REPORT, TASK_RESPONSIBLE, on="task"),
    R("GET", "/api/v1/programme/tasks/{task_id}/acceptances", PROGRAMME, TASK_READ, on="task", shows=False),
    R("POST", "/api/v1/programme/tasks/{task_id}/acceptance", ACCEPT, TASK_ACCEPT, on="task", ok=201),
    R("POST", "/api/v1/programme/evidence", PROGRAMME, TASK_READ, on="task", ok=201,
        note="report, accept or close permission (all programme roles); a task or problem the caller sees"),
    R("GET", "/api/v1/programme/evidence/{evidence_id}", PROGRAMME, EVIDENCE, on="evidence"),
    R("GET", "/api/v1/programme/problems", PROGRAMME, PROBLEM_READ, on="problem", lists=True),
    R("POST", "/api/v1/programme/problems", ACCEPT, TASK_LEAD, on="task", ok=201,
        note="by the action's lead"),
    R("GET", "/api/v1/programme/problems/{problem_id}", PROGRAMME, PROBLEM_READ, on="problem"),
    R("POST", "/api/v1/programme/problems/{problem_id}/rectify", REPORT, PROBLEM_RESPONSIBLE, on="problem"),
    R("POST", "/api/v1/programme/problems/{problem_id}/close", ACCEPT, PROBLEM_CLOSE, on="problem"),
    R("GET", "/api/v1/programme/notices", PROGRAMME, NOTICE_READ, on="notice", lists=True),
    R("POST", "/api/v1/programme/notices/{notice_id}/reply", REPORT, NOTICE_RESPONSIBLE, on="notice"),
    R("GET", "/api/v1/programme/map", PROGRAMME, TASK_READ, on="task", lists=True,
        ids=("columns.id", "task_id")),
    R("GET", "/api/v1/programme/map/legend", PROGRAMME),
    R("GET", "/api/v1/programme/map/timeline", PROGRAMME, TASK_READ, on="task", lists=True, shows=False,
        ids=("tasks[].id", "task_id"), note="the most urgent tasks: an in-scope one may be left out"),
    R("GET", "/api/v1/programme/stats", PROGRAMME, note="counts per action within the caller's scope"),
    R("GET", "/api/v1/programme/evaluation", PROGRAMME, note="the 红黑榜 is published to every unit"),
    R("GET", "/api/v1/programme/evaluation.xlsx", PROGRAMME),
    R("GET", "/api/v1/programme/ledger/template.xlsx", PROGRAMME),
    R("GET", "/api/v1/programme/ledger.xlsx", PROGRAMME, TASK_READ, on="task", lists=True),
    R("POST", "/api/v1/programme/ledger/import", PLAN, ok=201, note="rows only for actions the caller leads"),
    R("GET", "/api/v1/programme/reports/weekly", PROGRAMME, TASK_READ, on="task", lists=True, shows=False),
    R("POST", "/api/v1/programme/supervision/scan", OFFICE),
    # --- the ten actions: pages ----------------------------------------------------------------------------
    R("GET", "/programme", PROGRAMME),
    R("GET", "/programme/map", PROGRAMME),
    R("GET", "/programme/actions/new", OFFICE),
    R("POST", "/programme/actions", OFFICE, ok=303),
    R("GET", "/programme/actions/{action_id}", PROGRAMME, ACTIONS, on="action"),
    R("GET", "/programme/tasks", PROGRAMME, TASK_READ, on="task", lists=True),
    R("GET", "/programme/tasks/new", PLAN),
    R("POST", "/programme/tasks", PLAN, ACTION_LEAD, on="action", ok=303),
    R("GET", "/programme/tasks/{task_id}", PROGRAMME, TASK_READ, on="task"),
    R("POST", "/programme/tasks/{task_id}/report", REPORT, TASK_RESPONSIBLE, on="task", ok=303),
    R("POST", "/programme/tasks/{task_id}/submit", REPORT, TASK_RESPONSIBLE, on="task", ok=303),
    R("POST", "/programme/tasks/{task_id}/accept", ACCEPT, TASK_ACCEPT, on="task", ok=303),
    R("POST", "/programme/tasks/{task_id}/milestones", PLAN, TASK_LEAD, on="task", ok=303),
    R("POST", "/programme/tasks/{task_id}/problems", ACCEPT, TASK_LEAD, on="task", ok=303),
    R("GET", "/programme/problems", PROGRAMME, PROBLEM_READ, on="problem", lists=True),
    R("GET", "/programme/problems/{problem_id}", PROGRAMME, PROBLEM_READ, on="problem"),
    R("POST", "/programme/problems/{problem_id}/rectify", REPORT, PROBLEM_RESPONSIBLE, on="problem", ok=303),
    R("POST", "/programme/problems/{problem_id}/close", ACCEPT, PROBLEM_CLOSE, on="problem", ok=303),
    R("GET", "/programme/notices", PROGRAMME, NOTICE_READ, on="notice", lists=True, query={"state": ""}),
    R("POST", "/programme/notices/{notice_id}/reply", REPORT, NOTICE_RESPONSIBLE, on="notice", ok=303),
    R("GET", "/programme/evaluation", PROGRAMME),
    R("GET", "/programme/reports/weekly", PROGRAMME, TASK_READ, on="task", lists=True, shows=False),
    R("GET", "/programme/ledger", PLAN),
    R("POST", "/programme/ledger", PLAN),
    R("GET", "/programme/settings", OFFICE),
    R("POST", "/programme/settings", OFFICE, ok=303),
    # --- digital twin ------------------------------------------------------------------------------------
    R("GET", "/api/v1/twin/networks", STAFF, SUBTREE, on="network", lists=True,
        note="operators: their utility's"),
    R("GET", "/api/v1/twin/networks/{name}", STAFF, SUBTREE, on="network"),
    R("GET", "/api/v1/twin/networks/{name}/geojson", STAFF, SUBTREE, on="network", shows=False),
    R("POST", "/api/v1/twin/networks", TWIN_WRITE, SUBTREE, on="network", ok=201,
        note="re-importing another utility's network is refused"),
    R("POST", "/api/v1/twin/networks/{name}/impact", STAFF, SUBTREE, on="network", shows=False),
    R("GET", "/api/v1/twin/sensors", STAFF, SUBTREE, on="sensor", lists=True),
    R("POST", "/api/v1/twin/sensors", TWIN_WRITE, SUBTREE, on="network", ok=201),
    R("GET", "/api/v1/twin/sensors/{code}/readings", STAFF, SUBTREE, on="sensor", shows=False),
    R("POST", "/api/v1/telemetry", TWIN_WRITE, SUBTREE, on="sensor", refused=(200,), shows=False,
        note="readings of sensors out of scope are dead-lettered, never stored"),
    R("GET", "/api/v1/twin/warnings", STAFF, SUBTREE, on="warning", lists=True),
    R("GET", "/api/v1/twin/warnings/{warning_id}", STAFF, SUBTREE, on="warning"),
    R("GET", "/api/v1/twin/dead-letters", OFFICE, note="payloads cross utilities"),
    R("GET", "/twin", STAFF, SUBTREE, on="network", lists=True),
    R("GET", "/twin/networks/{name}", STAFF, SUBTREE, on="network"),
    R("GET", "/twin/warnings/{warning_id}", STAFF, SUBTREE, on="warning"),
    # --- 15-minute circle --------------------------------------------------------------------------------
    R("GET", "/api/v1/livability/types", SIGNED_IN),
    R("POST", "/api/v1/livability/types", ADMIN, ok=201),
    R("PATCH", "/api/v1/livability/types/{code}", ADMIN, on="facility_type"),
    R("GET", "/api/v1/livability/facilities", SIGNED_IN, note="a public directory: every facility"),
    R("POST", "/api/v1/livability/facilities", LIV_WRITE, PLACE, on="place", ok=201, refused=(422,)),
    R("DELETE", "/api/v1/livability/facilities/{facility_id}", LIV_WRITE, SUBTREE, on="facility", ok=204),
    R("POST", "/api/v1/livability/facilities/import", LIV_WRITE, PLACE, on="place", refused=(422,)),
    R("GET", "/api/v1/livability/residential-areas", STAFF, LIVABILITY_VIEW, on="area", lists=True,
        note="elderly counts are not public"),
    R("POST", "/api/v1/livability/residential-areas", LIV_WRITE, PLACE, on="place", ok=201, refused=(422,)),
    R("PATCH", "/api/v1/livability/residential-areas/{area_id}", LIV_WRITE, SUBTREE, on="area"),
    R("POST", "/api/v1/livability/residential-areas/import", LIV_WRITE, PLACE, on="place", refused=(422,)),
    R("GET", "/api/v1/livability/network", STAFF),
    R("POST", "/api/v1/livability/accessibility/runs", ANALYSE, ok=201),
    R("GET", "/api/v1/livability/accessibility", STAFF, LIVABILITY_VIEW, on="street", lists=True),
    R("GET", "/api/v1/livability/accessibility/results", STAFF, LIVABILITY_VIEW, on="area", lists=True),
    R("GET", "/api/v1/livability/accessibility/results.csv", STAFF, LIVABILITY_VIEW, on="area", lists=True),
    R("POST", "/api/v1/livability/site-plans", ANALYSE, ok=201),
    R("GET", "/api/v1/livability/site-plans", ANALYSE, also=LEAD_15MIN),
    R("GET", "/api/v1/livability/site-plans/{plan_id}", ANALYSE, on="plan", also=LEAD_15MIN),
    R("POST", "/api/v1/livability/plan-sites/{site_id}/propose-task", ANALYSE, LIVABILITY_VIEW,
        on="plan_site", also=LEAD_15MIN, ok=201),
    R("GET", "/api/v1/livability/task-proposals", ANALYSE, also=LEAD_15MIN),
    R("GET", "/livability", STAFF, LIVABILITY_VIEW, on="street", lists=True),
    R("POST", "/livability/runs", ANALYSE, ok=303),
    R("GET", "/livability/siting", ANALYSE, also=LEAD_15MIN),
    R("POST", "/livability/siting", ANALYSE, ok=303),
    R("POST", "/livability/plan-sites/{site_id}/propose-task", ANALYSE, LIVABILITY_VIEW, on="plan_site",
        also=LEAD_15MIN, ok=303),
    R("GET", "/livability/data", STAFF, SUBTREE, on="area", lists=True,
        note="the streets' own data to keep: the lead department sees its subtree here, as anyone"),
    R("POST", "/livability/data/import", LIV_WRITE, PLACE, on="place", ok=303, refused=(422,)),
    # --- resources: idle spaces and industrial buildings (nothing public) -----------------------------
    R("GET", "/api/v1/resources/idle-spaces", STAFF, SUBTREE, on="idle", lists=True),
    R("POST", "/api/v1/resources/idle-spaces", LIV_WRITE, PLACE, on="place", ok=201, refused=(422,)),
    R("GET", "/api/v1/resources/idle-spaces/{space_id}", STAFF, SUBTREE, on="idle"),
    R("PATCH", "/api/v1/resources/idle-spaces/{space_id}", LIV_WRITE, SUBTREE, on="idle"),
    R("DELETE", "/api/v1/resources/idle-spaces/{space_id}", LIV_WRITE, SUBTREE, on="idle", ok=204),
    R("POST", "/api/v1/resources/idle-spaces/{space_id}/transitions", LIV_WRITE, SUBTREE, on="idle"),
    R("GET", "/api/v1/resources/buildings", STAFF, SUBTREE, on="building", lists=True),
    R("POST", "/api/v1/resources/buildings", LIV_WRITE, PLACE, on="place", ok=201, refused=(422,)),
    R("GET", "/api/v1/resources/buildings/template.xlsx", STAFF),
    R("POST", "/api/v1/resources/buildings/import", LIV_WRITE, PLACE, on="place", refused=(422,)),
    R("GET", "/api/v1/resources/buildings/{code}", STAFF, SUBTREE, on="building"),
    R("PUT", "/api/v1/resources/buildings/{code}/reports/{period}", LIV_WRITE, SUBTREE, on="building"),
    R("GET", "/api/v1/resources/grading", STAFF, SUBTREE, on="building", lists=True,
        query={"period": "{period}"}),
    R("GET", "/api/v1/resources/grading/export.xlsx", STAFF, SUBTREE, on="building", lists=True,
        query={"period": "{period}"}),
    R("GET", "/api/v1/resources/grading-system", STAFF),
    R("PUT", "/api/v1/resources/grading-system", ADMIN),
    R("GET", "/resources/idle-spaces", STAFF, SUBTREE, on="idle", lists=True),
    R("POST", "/resources/idle-spaces", LIV_WRITE, PLACE, on="place", ok=303, refused=(422,)),
    R("POST", "/resources/idle-spaces/{space_id}/{action}", LIV_WRITE, SUBTREE, on="idle", ok=303,
        params={"action": "plan"}),
    R("GET", "/resources/buildings", STAFF, SUBTREE, on="building", lists=True),
    R("POST", "/resources/buildings/import", LIV_WRITE, PLACE, on="place", ok=303, refused=(422,)),
    # --- case intelligence ---------------------------------------------------------------------------------
    R("GET", "/api/v1/insight/cases/{case_id}/suggestion", STAFF, CASE_READ, on="case", shows=False),
    R("GET", "/api/v1/insight/triage", MODELS, note="manual triage of the whole queue"),
    R("GET", "/api/v1/insight/models", MODELS),
    R("POST", "/api/v1/insight/models/activate", ADMIN),
    R("POST", "/api/v1/insight/models/retrain", ADMIN, ok=201),
    R("GET", "/api/v1/insight/hotspots", HOTSPOTS, HOTSPOT, on="hotspot", lists=True),
    R("GET", "/api/v1/insight/proposals", PROPOSALS, PROPOSAL, on="proposal", lists=True,
        ids=("[].id", "proposal_id")),
    R("POST", "/api/v1/insight/proposals/{proposal_id}/accept", PROPOSALS, PROPOSAL, on="proposal"),
    R("POST", "/api/v1/insight/proposals/{proposal_id}/dismiss", PROPOSALS, PROPOSAL, on="proposal"),
    R("GET", "/api/v1/insight/tasks/{task_id}/before-after", PROGRAMME, TASK_READ, on="task", shows=False),
    R("GET", "/insight/hotspots", HOTSPOTS, HOTSPOT, on="hotspot", lists=True),
    R("POST", "/insight/proposals/{proposal_id}/{decision}", PROPOSALS, PROPOSAL, on="proposal", ok=303,
        params={"decision": "dismiss"}),
    R("GET", "/insight/models", MODELS),
    R("POST", "/insight/models/activate", ADMIN, ok=303),
]
# fmt: on
