"""What the cases API takes and returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from cityloop.core.schemas import Out, Patch, Strict, ZonedDatetime

Source = Literal["hotline_12345", "web", "app", "inspector", "enforcement", "sensor", "video"]
Urgency = Literal["normal", "urgent", "emergency"]
Score = Literal["satisfied", "basically_satisfied", "dissatisfied"]


class CaseIn(Strict):
    category: str = Field(min_length=1, max_length=60, description="category code, e.g. SJ0501")
    description: str = Field(default="", max_length=4000)
    lon: float | None = Field(default=None, allow_inf_nan=False, description="longitude (degrees)")
    lat: float | None = Field(default=None, allow_inf_nan=False, description="latitude (degrees)")
    datum: Literal["wgs84", "gcj02", "bd09"] = Field(
        default="wgs84", description="datum of lon/lat; stored converted to WGS84"
    )
    address: str | None = Field(default=None, max_length=300)
    urgency: Urgency = "normal"
    source: Source | None = Field(default=None, description="channel; default depends on the role")
    source_ref: str | None = Field(default=None, max_length=120, description="e.g. the 12345 ticket number")
    reporter_name: str | None = Field(default=None, max_length=80)
    reporter_phone: str | None = Field(default=None, max_length=40)
    attributes: dict[str, Any] | None = None


class UnitRef(BaseModel):
    id: int
    code: str
    name: str
    kind: str


class CategoryBrief(BaseModel):
    code: str
    name: str
    kind: str
    major_name: str


class CategoryOut(Out):
    code: str
    scheme: str
    kind: str
    major_code: str
    major_name: str
    minor_code: str
    name: str
    name_en: str | None
    handler: str
    handler_unit: str | None
    deadlines: dict[str, dict[str, float]]
    working_hours: bool
    duplicate_radius_m: int
    duplicate_window_hours: int
    active: bool
    version: int


class CategoryPatch(Patch):
    clearable = frozenset({"name_en", "handler_unit"})  # null clears these; any other null is a 422
    version: int
    name: str | None = Field(default=None, min_length=1, max_length=120)
    name_en: str | None = Field(default=None, max_length=160)
    handler: Literal["department", "street", "enforcement", "manual"] | None = None
    handler_unit: str | None = Field(default=None, max_length=40)
    deadlines: dict[str, dict[str, float]] | None = None
    working_hours: bool | None = None
    duplicate_radius_m: int | None = Field(default=None, ge=0, le=100_000)
    duplicate_window_hours: int | None = Field(default=None, ge=0, le=100_000)
    active: bool | None = None


class ReporterOut(BaseModel):
    user_id: int | None
    name: str | None
    phone: str | None


class DuplicateOut(BaseModel):
    id: int
    tracking_no: str
    state: str
    distance_m: float
    reported_at: ZonedDatetime
    similarity: float = 0.0
    score: float = 0.0


class AttachmentOut(Out):
    id: int
    purpose: str
    filename: str
    content_type: str
    size: int
    uploaded_at: ZonedDatetime


class CaseOut(BaseModel):
    id: int
    tracking_no: str
    source: str
    source_ref: str | None
    category: CategoryBrief
    urgency: str
    state: str
    status: Literal["open", "closed"]
    lon: float | None
    lat: float | None
    address: str | None
    h3_cell: str | None
    grid: UnitRef | None
    street: UnitRef | None
    unit: UnitRef | None = Field(description="responsible unit (None: the dispatcher's manual queue)")
    routing_reason: str | None
    description: str
    attributes: dict[str, Any] | None
    reporter: ReporterOut | None
    parent_id: int | None
    possible_duplicate: bool
    rework_count: int
    return_count: int
    extension_count: int
    supporters_count: int
    due_at: ZonedDatetime | None
    overdue: bool
    register_due_at: ZonedDatetime | None
    dispatch_due_at: ZonedDatetime | None
    handle_due_at: ZonedDatetime | None
    reported_at: ZonedDatetime
    registered_at: ZonedDatetime | None
    dispatched_at: ZonedDatetime | None
    accepted_at: ZonedDatetime | None
    feedback_at: ZonedDatetime | None
    verified_at: ZonedDatetime | None
    closed_at: ZonedDatetime | None
    voided_at: ZonedDatetime | None
    updated_at: ZonedDatetime
    version: int
    allowed_actions: list[str]
    attachments: list[AttachmentOut] | None = None


class IntakeOut(CaseOut):
    duplicates: list[DuplicateOut] = Field(default_factory=list)


class CasePage(BaseModel):
    items: list[CaseOut]
    page: int
    page_size: int
    total: int
    total_exact: bool = Field(description="False when there are more than `total` matches")


class ActionIn(Strict):
    version: int = Field(description="the case version you read; a stale one gets 409")
    note: str | None = Field(default=None, max_length=4000, description="internal note")
    public_note: str | None = Field(default=None, max_length=2000, description="shown on the public page")
    reason: str | None = Field(default=None, max_length=2000)
    unit: str | None = Field(default=None, max_length=40, description="dispatch: the unit's code")
    category: str | None = Field(default=None, max_length=60, description="register/dispatch: correct it")
    hours: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="extension asked")
    attachment_ids: list[int] = Field(default_factory=list, max_length=20)


class EventOut(BaseModel):
    id: int
    at: ZonedDatetime
    action: str
    from_state: str | None
    to_state: str | None
    actor_name: str
    actor_role: str | None
    unit: UnitRef | None
    public: bool
    note: str | None
    public_note: str | None
    evidence: list[int] | None
    data: dict[str, Any] | None


class PublicEventOut(BaseModel):
    at: ZonedDatetime
    action: str
    state: str | None
    unit_name: str | None
    note: str | None


class PublicCaseOut(BaseModel):
    tracking_no: str
    category: CategoryBrief
    state: str
    status: Literal["open", "closed"]
    street: str | None
    lon: float | None = Field(description="rounded to ~100 m")
    lat: float | None
    reported_at: ZonedDatetime
    closed_at: ZonedDatetime | None
    supporters_count: int
    rating: Score | None
    timeline: list[PublicEventOut]


class RatingIn(Strict):
    score: Score
    comment: str | None = Field(default=None, max_length=1000)


class RatingOut(Out):
    case_id: int
    score: str
    comment: str | None
    channel: str
    rated_at: ZonedDatetime


class SupportOut(BaseModel):
    tracking_no: str
    supporters_count: int


class MergeChild(Strict):
    id: int
    version: int | None = None


class MergeIn(Strict):
    children: list[MergeChild] = Field(min_length=1, max_length=50)


class MergeOut(BaseModel):
    parent: CaseOut
    merged: list[str]


class RuleIn(Strict):
    unit: str = Field(min_length=1, max_length=40, description="code of the handling unit")
    category: str | None = Field(default=None, max_length=60, description="category code (empty: any)")
    area: str | None = Field(
        default=None, max_length=40, description="code of a street/town/grid (empty: any)"
    )
    priority: int = 0
    note: str | None = Field(default=None, max_length=300)


class RulePatch(Patch):
    clearable = frozenset({"category", "area", "note"})  # null clears these; any other null is a 422
    version: int
    unit: str | None = Field(default=None, min_length=1, max_length=40)
    category: str | None = Field(default=None, max_length=60)
    area: str | None = Field(default=None, max_length=40)
    priority: int | None = None
    active: bool | None = None
    note: str | None = Field(default=None, max_length=300)


class RuleOut(BaseModel):
    id: int
    category: str | None
    area: UnitRef | None
    unit: UnitRef
    priority: int
    active: bool
    note: str | None
    version: int
