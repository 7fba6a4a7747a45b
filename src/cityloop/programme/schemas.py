"""What the programme API takes and returns."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from cityloop.core.schemas import Out, Patch, Strict, ZonedDatetime


class Ref(Out):
    id: int
    code: str
    name: str


class PersonRef(Out):
    id: int
    name: str
    title: str | None = None


class ProgrammeOut(Out):
    id: int
    code: str
    name: str
    name_en: str | None
    year: int
    starts_on: date
    ends_on: date
    supervision: dict[str, float]
    weights: dict[str, float]
    version: int


class ProgrammeCreate(Strict):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    year: int = Field(ge=2000, le=2100)
    name_en: str | None = Field(default=None, max_length=200)


class SettingsUpdate(Patch):
    supervision: dict[str, float] | None = Field(
        default=None, description="behind_margin_pct, due_soon_days, stale_report_days, reply_days, …"
    )
    weights: dict[str, float] | None = Field(
        default=None, description="completion, timeliness, problem_closure, acceptance_pass"
    )


class ChecklistCreate(Strict):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    items: list[str] = Field(description="one line per item")
    source: str | None = None


class ChecklistOut(Out):
    id: int
    code: str
    name: str
    source: str | None
    items: list[dict[str, str]]


class ActionCreate(Strict):
    programme: str | None = Field(default=None, description="programme code; default: the current one")
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    lead_unit: str | None = Field(default=None, description="code of the lead department (required)")
    taskforce_unit: str | None = Field(default=None, description="code of the special task force")
    lead_leader: int | None = Field(default=None, description="person id of the lead leader")
    visions: list[str] = Field(default_factory=list, description="创新 宜居 美丽 韧性 文明 智慧")
    co_units: list[str] = Field(default_factory=list, description="codes of co-operating departments")
    local_units: list[str] = Field(default_factory=list, description="codes of implementing streets/towns")
    checklists: list[str] = Field(default_factory=list, description="codes of acceptance checklists")
    name_en: str | None = None
    description: str | None = None
    seq: int = 0


class ActionOut(Out):
    id: int
    code: str
    name: str
    name_en: str | None
    seq: int
    programme: str
    lead_unit: Ref
    taskforce_unit: Ref | None
    lead_leader: PersonRef | None
    visions: list[str]
    co_units: list[str]
    local_units: list[str]
    checklists: list[str]
    description: str | None


class MilestoneIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    due_on: date
    planned_pct: float = Field(description="cumulative progress planned by this date, percent")
    deliverable: str | None = None


class MilestoneOut(Out):
    id: int
    seq: int
    name: str
    due_on: date
    planned_pct: float
    deliverable: str | None
    done_on: date | None


class IndicatorIn(Strict):
    name: str = Field(min_length=1, max_length=80)
    unit: str = Field(min_length=1, max_length=20)
    baseline: float
    target_value: float


class IndicatorOut(Out):
    seq: int = Field(description="1 is the task's main indicator (progress and supervision follow it)")
    name: str
    unit: str
    baseline: float
    target_value: float
    current_value: float


class TaskCreate(Strict):
    action: str = Field(description="action code or id")
    code: str | None = Field(default=None, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    target: str | None = None
    indicator: str = Field(min_length=1, max_length=80)
    indicator_unit: str = Field(min_length=1, max_length=20)
    baseline: float
    target_value: float
    responsible_unit: str = Field(description="unit code")
    responsible_person: str = Field(description="person id, or name inside the responsible unit")
    starts_on: date
    due_on: date
    milestones: list[MilestoneIn]
    place: dict[str, Any] | None = Field(default=None, description="GeoJSON Point, LineString or Polygon")
    site_plan: str | None = Field(default=None, description="一点一策: the site-specific plan")
    indicators: list[IndicatorIn] = Field(
        default_factory=list, description="further indicators (the first is indicator/baseline/target_value)"
    )


class TaskUpdate(Patch):
    """PATCH: send only what changes, with the version you read."""

    clearable = frozenset({"target", "place", "site_plan"})  # null clears these; any other null is a 422
    version: int = Field(description="the version you read; a stale one gets 409")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    target: str | None = None
    indicator: str | None = Field(default=None, min_length=1, max_length=80)
    indicator_unit: str | None = Field(default=None, min_length=1, max_length=20)
    baseline: float | None = None
    target_value: float | None = None
    responsible_unit: str | None = Field(default=None, description="unit code")
    responsible_person: str | None = Field(default=None, description="person id, or name inside the unit")
    starts_on: date | None = None
    due_on: date | None = None
    place: dict[str, Any] | None = None
    site_plan: str | None = None
    indicators: list[IndicatorIn] | None = Field(
        default=None, description="replaces the further indicators (values kept where the name stays)"
    )


class ReplanIn(Strict):
    version: int = Field(description="the version you read; a stale one gets 409")
    due_on: date | None = None
    milestones: list[MilestoneIn] = Field(description="the milestones not yet done, in order")


class TaskOut(Out):
    id: int
    code: str
    name: str
    programme_id: int
    action: Ref
    target: str | None
    indicator: str
    indicator_unit: str
    baseline: float
    target_value: float
    current_value: float
    progress_pct: float
    responsible_unit: Ref
    responsible_person: PersonRef
    place: dict[str, Any] | None
    place_kind: str | None
    lon: float | None
    lat: float | None
    site_plan: str | None
    starts_on: date
    due_on: date
    state: str
    status: str
    status_reason: str | None
    last_report_at: ZonedDatetime | None
    returned_count: int
    version: int
    milestones: list[MilestoneOut]
    indicators: list[IndicatorOut] = Field(default_factory=list)


class TaskPage(Out):
    total: int
    items: list[TaskOut]


class EvidenceOut(Out):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: ZonedDatetime
    uploader_name: str
    url: str


class ReportIn(Strict):
    value: float = Field(description="the indicator's value now")
    narrative: str = Field(min_length=1)
    milestone_id: int | None = Field(default=None, description="the milestone this report completes")
    evidence: list[int] = Field(default_factory=list, description="ids of uploaded evidence")
    indicators: dict[int, float] = Field(
        default_factory=dict, description="values of the further indicators now, by their seq (2, 3, …)"
    )


class ReportOut(Out):
    id: int
    task_id: int
    milestone_id: int | None
    reported_at: ZonedDatetime
    reporter_name: str
    value: float
    progress_pct: float
    narrative: str
    indicator_values: dict[str, float] | None = None
    evidence: list[EvidenceOut] = Field(default_factory=list)


class SubmitIn(Strict):
    note: str | None = None


class CheckResultIn(Strict):
    checklist: str
    item: str
    result: str = Field(description="ok, fail or na")
    note: str | None = None


class AcceptanceIn(Strict):
    passed: bool
    results: list[CheckResultIn] = Field(default_factory=list)
    evidence: list[int] = Field(default_factory=list)
    comment: str | None = None


class AcceptanceOut(Out):
    id: int
    task_id: int
    checked_at: ZonedDatetime
    checker_name: str
    passed: bool
    results: list[dict[str, Any]]
    comment: str | None
    evidence: list[EvidenceOut] = Field(default_factory=list)


class ProblemCreate(Strict):
    task_id: int
    title: str = Field(min_length=1, max_length=200)
    deadline: date
    source: str = Field(default="inspection", description="supervision, inspection or report")
    description: str | None = None
    responsible_unit: str | None = Field(default=None, description="unit code; default: the task's")


class ProblemOut(Out):
    id: int
    number: str
    action: Ref
    task_id: int | None
    source: str
    title: str
    description: str | None
    responsible_unit: Ref
    deadline: date
    state: str
    raised_at: ZonedDatetime
    raiser_name: str
    rectification: str | None
    rectified_at: ZonedDatetime | None
    closed_at: ZonedDatetime | None
    approver_name: str | None
    evidence: list[EvidenceOut] = Field(default_factory=list)


class RectifyIn(Strict):
    rectification: str = Field(min_length=1)
    evidence: list[int] = Field(default_factory=list)


class CloseIn(Strict):
    evidence: list[int] = Field(default_factory=list)
    note: str | None = None


class NoticeOut(Out):
    id: int
    number: str
    task: Ref
    cause: str
    to_unit: Ref
    issued_at: ZonedDatetime
    reply_due_at: ZonedDatetime
    level: int
    escalated_at: ZonedDatetime | None
    state: str
    reply: str | None
    replied_at: ZonedDatetime | None
    replier_name: str | None


class ReplyIn(Strict):
    reply: str = Field(min_length=1)


class TimelineItem(Out):
    at: ZonedDatetime
    kind: str
    text: str
    detail: dict[str, Any] = Field(default_factory=dict)


class ScanOut(Out):
    scan_id: int | None
    tasks: int
    changed: int
    notices: int
    reminders: int
    escalations: int
    skipped: bool


class ImportError_(Out):
    sheet: str
    row: int
    column: str
    message: str


class ImportOut(Out):
    tasks: int
    milestones: int
