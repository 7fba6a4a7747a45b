"""JSON API for cases under /api/v1/: intake, the queue, one case, actions, timeline, files, rating,
“me too”, duplicates and merge, routing rules, categories, and the public tracking page's data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityloop.cases import attachments, categories, groupcommit, queue, routing, rules, service
from cityloop.cases.models import Case, CaseEvent, Category, RoutingRule
from cityloop.cases.permissions import (
    CASES_ATTACH,
    CASES_DISPATCH,
    CASES_RATE,
    CASES_READ,
    CASES_REPORT,
    CASES_SUPPORT,
    CATEGORIES_WRITE,
    ROUTING_READ,
    ROUTING_WRITE,
)
from cityloop.cases.schemas import (
    ActionIn,
    AttachmentOut,
    CaseIn,
    CaseOut,
    CasePage,
    CategoryBrief,
    CategoryOut,
    CategoryPatch,
    DuplicateOut,
    EventOut,
    IntakeOut,
    MergeIn,
    MergeOut,
    PublicCaseOut,
    PublicEventOut,
    RatingIn,
    RatingOut,
    ReporterOut,
    RuleIn,
    RuleOut,
    RulePatch,
    SupportOut,
    UnitRef,
)
from cityloop.cases.states import OPEN_STATES, PUBLIC_STATUS, State
from cityloop.core.clock import now
from cityloop.core.db import new_session
from cityloop.core.errors import Conflict, NotFound, ValidationFailed
from cityloop.core.http import DB, CurrentPrincipal, current_principal, optional_principal
from cityloop.core.permissions import Principal
from cityloop.core.schemas import API_ERRORS
from cityloop.core.validation import Id, Int, Page

ERRORS = API_ERRORS  # one map for every router (core.schemas)
router = APIRouter(prefix="/api/v1", tags=["cases"], responses=ERRORS)


# --- output builders (no lazy loads: units come from the cached area index) --------------------------


def _unit_ref(a: routing.Areas, unit_id: int | None) -> UnitRef | None:
    ref = a.by_id.get(unit_id) if unit_id is not None else None
    return UnitRef(id=ref.id, code=ref.code, name=ref.name, kind=ref.kind) if ref else None


def _brief(c: Category | categories.Leaf) -> CategoryBrief:
    return CategoryBrief(code=c.code, name=c.name, kind=c.kind, major_name=c.major_name)


def case_out(
    case: Case,
    principal: Principal,
    a: routing.Areas,
    *,
    with_files: list[Any] | None = None,
    category: categories.Leaf | None = None,
) -> dict[str, Any]:
    """The API's view of a case for ``principal`` (a dict, so IntakeOut can extend it)."""
    current = now()
    is_open = case.state in OPEN_STATES
    return {
        "id": case.id,
        "tracking_no": case.tracking_no,
        "source": case.source,
        "source_ref": case.source_ref,
        "category": _brief(category or case.category),
        "urgency": case.urgency,
        "state": case.state,
        "status": PUBLIC_STATUS[State(case.state)],
        "lon": case.lon,
        "lat": case.lat,
        "address": case.address,
        "h3_cell": case.h3_cell,
        "grid": _unit_ref(a, case.grid_id),
        "street": _unit_ref(a, case.street_id),
        "unit": _unit_ref(a, case.unit_id),
        "routing_reason": case.routing_reason,
        "description": case.description,
        "attributes": case.attributes,
        "reporter": ReporterOut(**service.reporter_of(case)),
        "parent_id": case.parent_id,
        "possible_duplicate": case.possible_duplicate,
        "rework_count": case.rework_count,
        "return_count": case.return_count,
        "extension_count": case.extension_count,
        "supporters_count": case.supporters_count,
        "due_at": case.due_at,
        "overdue": bool(is_open and case.due_at is not None and case.due_at < current),
        "register_due_at": case.register_due_at,
        "dispatch_due_at": case.dispatch_due_at,
        "handle_due_at": case.handle_due_at,
        "reported_at": case.reported_at,
        "registered_at": case.registered_at,
        "dispatched_at": case.dispatched_at,
        "accepted_at": case.accepted_at,
        "feedback_at": case.feedback_at,
        "verified_at": case.verified_at,
        "closed_at": case.closed_at,
        "voided_at": case.voided_at,
        "updated_at": case.updated_at,
        "version": case.version,
        "allowed_actions": service.allowed_actions(principal, case, a),
        "attachments": [AttachmentOut.model_validate(f) for f in with_files]
        if with_files is not None
        else None,
    }


def event_out(e: CaseEvent, a: routing.Areas) -> EventOut:
    return EventOut(
        id=e.id,
        at=e.at,
        action=e.action,
        from_state=e.from_state,
        to_state=e.to_state,
        actor_name=e.actor_name,
        actor_role=e.actor_role,
        unit=_unit_ref(a, e.unit_id),
        public=e.public,
        note=e.note,
        public_note=e.public_note,
        evidence=e.evidence,
        data=e.data,
    )


def rule_out(r: RoutingRule, a: routing.Areas) -> RuleOut:
    unit = _unit_ref(a, r.unit_id) or UnitRef(
        id=r.unit.id, code=r.unit.code, name=r.unit.name, kind=r.unit.kind
    )
    return RuleOut(
        id=r.id,
        category=r.category.code if r.category else None,
        area=_unit_ref(a, r.area_id),
        unit=unit,
        priority=r.priority,
        active=r.active,
        note=r.note,
        version=r.version,
    )


# --- intake -------------------------------------------------------------------------------------------


def commit_intake(
    db: Session,
    *,
    actor: service.Actor,
    report: service.NewCase,
    idempotency_key: str | None,
    idempotency_owner: str | None = None,
    render: Any = None,
    prepared: service.Prepared | None = None,
) -> tuple[service.IntakeResult, Any]:
    """Intake, render the answer inside the transaction, commit; a lost race on one key returns the winner.

    For every handler that takes reports (this API, Open311). ``prepared`` comes from ``service.prepare``
    run beforehand in a read session; without it everything happens here. When a concurrent request with
    the same key committed first, our insert of the key fails on its unique index and we answer with that
    case instead.
    """
    try:
        if prepared is not None:
            result = service.persist(db, prepared=prepared)
        else:
            result = service.intake(
                db,
                actor=actor,
                report=report,
                idempotency_key=idempotency_key,
                idempotency_owner=idempotency_owner,
            )
        rendered = render(result) if render else None
        db.commit()
        return result, rendered
    except IntegrityError:
        db.rollback()
        owner = idempotency_owner or service.owner_for(actor)
        row = service.find_idempotent(db, owner=owner, key=idempotency_key) if idempotency_key else None
        if row is None:
            raise
        result = service.replay(db, row, report)
        return result, render(result) if render else None


@router.post("/cases", response_model=IntakeOut, status_code=201)
async def create_case(
    body: CaseIn,
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> Response:
    """Report a problem. Send an ``Idempotency-Key`` header to make retries safe (same key → same case)."""
    report = service.NewCase(**body.model_dump())

    def unit_of_work() -> tuple[bool, bytes]:
        # The hot path of every channel runs in ONE worker thread: no thread hops, and on SQLite the write
        # lock is taken and released by the same thread. Everything that only reads (sign-in, category,
        # place, rules, duplicates, the category suggestion) happens before the write, which is short and
        # shared with the reports arriving at the same moment (``groupcommit``); the answer is rendered
        # after the commit, so no lock (SQLite's writer, the audit chain's tail on PostgreSQL) waits for it.
        read = new_session()
        try:
            principal = current_principal(optional_principal(request, read))
            principal.require(CASES_REPORT)
            prepared = service.prepare(read, actor=principal, report=report, idempotency_key=idempotency_key)
            if isinstance(prepared, service.IntakeResult):  # a retry of a report already taken
                return False, intake_json(read, principal, prepared)
            read.rollback()  # no read transaction held open while the report waits for its batch
            try:
                result = groupcommit.write(prepared)
            except IntegrityError:
                # A concurrent request with the same key committed first: answer with that case.
                row = service.find_idempotent(read, owner=prepared.owner, key=idempotency_key or "")
                if row is None:
                    raise
                return False, intake_json(read, principal, service.replay(read, row, report))
            return True, intake_json(read, principal, result)
        finally:
            read.rollback()
            read.close()

    created, content = await run_in_threadpool(unit_of_work)
    headers = None if created else {"Idempotent-Replayed": "true"}
    return Response(
        content, status_code=201 if created else 200, headers=headers, media_type="application/json"
    )


def intake_json(db: Session, principal: Principal, result: service.IntakeResult) -> bytes:
    """``intake_out`` as JSON bytes, serialised by ``IntakeOut`` without validating again what we built
    ourselves (the same bytes FastAPI's response_model would send, at a fraction of the cost)."""
    return (
        IntakeOut.model_construct(**intake_out(db, principal, result)).model_dump_json(by_alias=True).encode()
    )


def intake_out(db: Session, principal: Principal, result: service.IntakeResult) -> dict[str, Any]:
    """The answer to a report: the case, and for staff the possible duplicates."""
    out = case_out(result.case, principal, routing.areas(db), category=result.category)
    staff = not principal.is_citizen
    out["duplicates"] = [DuplicateOut(**d.__dict__) for d in result.duplicates] if staff else []
    return out


# --- reading ------------------------------------------------------------------------------------------


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if not value:
        return None
    try:
        parts = [float(v) for v in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4:
        raise ValidationFailed("cases.error.bbox_invalid")
    return parts[0], parts[1], parts[2], parts[3]


@router.get("/cases", response_model=CasePage)
def list_cases(
    db: DB,
    principal: CurrentPrincipal,
    state: Annotated[str | None, Query(description="comma list of states, or open / closed")] = None,
    category: str | None = None,
    unit: Annotated[str | None, Query(description="responsible unit code")] = None,
    street: Annotated[str | None, Query(description="street/town code")] = None,
    source: str | None = None,
    overdue: bool | None = None,
    possible_duplicate: bool | None = None,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat")] = None,
    q: Annotated[str | None, Query(max_length=200, description="tracking number or words")] = None,
    sort: str = "-reported_at",
    page: Page = 1,
    page_size: Annotated[Int, Query(ge=1, le=queue.MAX_PAGE_SIZE)] = 50,
) -> CasePage:
    """The queue: cases the caller may read (citizens: their own), filtered, newest first."""
    principal.require(CASES_READ)
    f = queue.CaseFilter(
        states=_csv(state),
        category=category,
        unit=unit,
        street=street,
        source=source,
        overdue=overdue,
        possible_duplicate=possible_duplicate,
        bbox=_bbox(bbox),
        text=q,
        sort=sort,
    )
    result = queue.list_cases(db, principal=principal, filters=f, page=page, page_size=page_size)
    a = routing.areas(db)
    return CasePage(
        items=[CaseOut(**case_out(c, principal, a)) for c in result.items],
        page=result.page,
        page_size=result.page_size,
        total=result.total,
        total_exact=result.total_exact,
    )


@router.get("/cases/{case_id}", response_model=CaseOut)
def get_case(case_id: Id, db: DB, principal: CurrentPrincipal) -> CaseOut:
    principal.require(CASES_READ)
    case = service.get_case(db, principal=principal, case_id=case_id)
    files = attachments.list_attachments(db, case=case)
    return CaseOut(**case_out(case, principal, routing.areas(db), with_files=files))


@router.get("/cases/{case_id}/timeline", response_model=list[EventOut])
def get_timeline(case_id: Id, db: DB, principal: CurrentPrincipal) -> list[EventOut]:
    """Every event for staff in scope; the public ones for the citizen who reported the case."""
    principal.require(CASES_READ)
    case = service.get_case(db, principal=principal, case_id=case_id)
    a = routing.areas(db)
    events = service.timeline(db, case=case, public_only=principal.is_citizen)
    return [event_out(e, a) for e in events]


# --- actions ------------------------------------------------------------------------------------------


@router.post("/cases/{case_id}/actions/{action}", response_model=CaseOut)
def act(case_id: Id, action: str, body: ActionIn, db: DB, principal: CurrentPrincipal) -> CaseOut:
    """Drive the loop: register, void, dispatch, accept, progress, request/approve/deny extension or
    parking, resume, return, feedback, verify_pass, verify_fail, close, note. Send the version you read."""
    case = service.get_case(db, principal=principal, case_id=case_id, for_update=True)
    data = service.ActionInput(**body.model_dump())
    service.apply_action(db, actor=principal, case=case, action=action, data=data)
    out = CaseOut(**case_out(case, principal, routing.areas(db)))
    db.commit()
    return out


@router.post("/cases/{case_id}/attachments", response_model=AttachmentOut, status_code=201)
async def upload(
    case_id: Id,
    db: DB,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File()],
    purpose: Annotated[str, Form()] = "report",
) -> AttachmentOut:
    """Attach a photo (JPEG/PNG/GIF/WebP), PDF or MP4 to an open case you may see."""
    principal.require(CASES_ATTACH)
    case = service.get_case(db, principal=principal, case_id=case_id)
    if case.state not in OPEN_STATES:
        raise Conflict("cases.error.not_open", error_code="transition_refused")
    data = await file.read()
    row = attachments.add_attachment(
        db, actor=principal, case=case, data=data, filename=file.filename, purpose=purpose
    )
    out = AttachmentOut.model_validate(row)
    db.commit()
    return out


@router.get("/cases/{case_id}/attachments/{attachment_id}")
def download(case_id: Id, attachment_id: Id, db: DB, principal: CurrentPrincipal) -> Response:
    principal.require(CASES_READ)
    case = service.get_case(db, principal=principal, case_id=case_id)
    row = attachments.get_attachment(db, case=case, attachment_id=attachment_id)
    try:
        data = attachments.storage().get(row.storage_key)
    except FileNotFoundError as exc:
        raise NotFound("cases.error.attachment_not_found", ref=attachment_id) from exc
    return Response(
        data,
        media_type=row.content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(row.filename)}",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)


@router.post("/cases/{case_id}/rating", response_model=RatingOut, status_code=201)
def rate(case_id: Id, body: RatingIn, db: DB, principal: CurrentPrincipal) -> RatingOut:
    """满意/基本满意/不满意 for a closed case: by its reporter, or by a dispatcher after a call-back."""
    principal.require(CASES_RATE)
    case = service.get_case(db, principal=principal, case_id=case_id)
    rating = service.rate(db, actor=principal, case=case, score=body.score, comment=body.comment)
    out = RatingOut.model_validate(rating)
    db.commit()
    return out


@router.post("/cases/{case_id}/me-too", response_model=SupportOut, status_code=201)
def me_too(case_id: Id, db: DB, principal: CurrentPrincipal) -> SupportOut:
    """A citizen with the same problem adds their voice to an open case (found on the public map)."""
    principal.require(CASES_SUPPORT)
    case = db.get(Case, case_id)
    if case is None:
        raise NotFound("cases.error.case_not_found", ref=case_id)
    target = service.support(db, actor=principal, case=case)
    out = SupportOut(tracking_no=target.tracking_no, supporters_count=target.supporters_count)
    db.commit()
    return out


@router.get("/cases/{case_id}/duplicates", response_model=list[DuplicateOut])
def duplicates(case_id: Id, db: DB, principal: CurrentPrincipal) -> list[DuplicateOut]:
    """Open cases of the same category near this one in space and time (for the dispatcher)."""
    principal.require(CASES_DISPATCH)
    case = service.get_case(db, principal=principal, case_id=case_id)
    return [DuplicateOut(**d.__dict__) for d in service.find_duplicates(db, case=case)]


@router.post("/cases/{case_id}/merge", response_model=MergeOut)
def merge(case_id: Id, body: MergeIn, db: DB, principal: CurrentPrincipal) -> MergeOut:
    """Merge duplicates into this case: they close with it, and each reporter is told."""
    principal.require(CASES_DISPATCH)
    parent = service.get_case(db, principal=principal, case_id=case_id, for_update=True)
    children = [
        (service.get_case(db, principal=principal, case_id=c.id, for_update=True), c.version)
        for c in body.children
    ]
    merged = service.merge(db, actor=principal, parent=parent, children=children)
    out = MergeOut(
        parent=CaseOut(**case_out(parent, principal, routing.areas(db))),
        merged=[c.tracking_no for c in merged],
    )
    db.commit()
    return out


# --- public tracking (no sign-in, no personal data) ---------------------------------------------------


@router.get("/public/cases/{tracking_no}", response_model=PublicCaseOut, tags=["public"])
def public_case(tracking_no: str, db: DB) -> PublicCaseOut:
    """What anyone holding the tracking number may see: category, place (coarse), state, public events."""
    case = service.get_by_tracking_no(db, tracking_no=tracking_no)
    a = routing.areas(db)
    street = a.by_id.get(case.street_id) if case.street_id else None
    rating = service.rating_of(db, case=case)
    events = service.timeline(db, case=case, public_only=True)
    return PublicCaseOut(
        tracking_no=case.tracking_no,
        category=_brief(case.category),
        state=case.state,
        status=PUBLIC_STATUS[State(case.state)],
        street=street.name if street else None,
        lon=round(case.lon, 3) if case.lon is not None else None,
        lat=round(case.lat, 3) if case.lat is not None else None,
        reported_at=case.reported_at,
        closed_at=case.closed_at,
        supporters_count=case.supporters_count,
        rating=rating.score if rating else None,
        timeline=[
            PublicEventOut(
                at=e.at,
                action=e.action,
                state=e.to_state,
                unit_name=(a.by_id[e.unit_id].name if e.unit_id in a.by_id else None) if e.unit_id else None,
                note=e.public_note,
            )
            for e in events
        ],
    )


# --- categories and routing rules ---------------------------------------------------------------------


@router.get("/categories", response_model=list[CategoryOut], tags=["categories"])
def list_categories(db: DB) -> list[CategoryOut]:
    """The active 部件/事件 leaves a report may name (public: reporting apps need them)."""
    return [CategoryOut.model_validate(c) for c in categories.list_categories(db)]


@router.patch("/categories/{code}", response_model=CategoryOut, tags=["categories"])
def patch_category(code: str, body: CategoryPatch, db: DB, principal: CurrentPrincipal) -> CategoryOut:
    principal.require(CATEGORIES_WRITE)
    cat = categories.get_by_code(db, code=code)
    if body.version != cat.version:
        raise Conflict("error.stale_version", current=cat.version, error_code="stale_version")
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    cat = categories.update_category(db, actor=principal, category=cat, **changes)
    out = CategoryOut.model_validate(cat)
    db.commit()
    return out


@router.get("/routing-rules", response_model=list[RuleOut], tags=["routing"])
def list_rules(db: DB, principal: CurrentPrincipal) -> list[RuleOut]:
    principal.require(ROUTING_READ)
    a = routing.areas(db)
    return [rule_out(r, a) for r in rules.list_rules(db)]


@router.post("/routing-rules", response_model=RuleOut, status_code=201, tags=["routing"])
def create_rule(body: RuleIn, db: DB, principal: CurrentPrincipal) -> RuleOut:
    """category × area → unit; the most specific active rule wins (category beats area, small beats large)."""
    principal.require(ROUTING_WRITE)
    rule = rules.create_rule(db, actor=principal, **body.model_dump())
    out = rule_out(rule, routing.areas(db))
    db.commit()
    return out


@router.patch("/routing-rules/{rule_id}", response_model=RuleOut, tags=["routing"])
def patch_rule(rule_id: Id, body: RulePatch, db: DB, principal: CurrentPrincipal) -> RuleOut:
    principal.require(ROUTING_WRITE)
    rule = rules.get_rule(db, rule_id=rule_id)
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    rule = rules.update_rule(db, actor=principal, rule=rule, version=body.version, **changes)
    out = rule_out(rule, routing.areas(db))
    db.commit()
    return out
