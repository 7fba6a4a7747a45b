"""What the twin API takes and returns."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cityloop.core.schemas import Out, Strict, ZonedDatetime


class NetworkOut(Out):
    name: str
    title: str | None
    kind: str
    operator: str = Field(description="code of the operator unit that owns the network")
    file_name: str
    file_format: str
    sha256: str
    version: int
    schematic: bool = Field(description="placed by offset/scale, not by real coordinates")
    placement: dict[str, Any]
    valve_layer: str = Field(description="file | generated-strategic-N-1 | none")
    summary: dict[str, Any]
    updated_at: ZonedDatetime


class SensorCreate(Strict):
    code: str = Field(min_length=1, max_length=80, description="the {sensor_id} of the MQTT topic")
    kind: str
    network: str | None = None
    asset: str | None = Field(default=None, description="element id in the network model")
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    name: str | None = Field(default=None, max_length=200)
    measure_unit: str | None = Field(default=None, max_length=20)
    rules: dict[str, Any] | None = Field(default=None, description='{"rows": [...], "disable": [cause]}')


class SensorOut(Out):
    code: str
    name: str | None
    kind: str
    measure_unit: str
    network: str | None
    operator: str
    asset: str | None
    lon: float | None
    lat: float | None
    last_ts: ZonedDatetime | None = None
    last_value: float | None = None
    level: str | None = Field(default=None, description="highest open warning level")


class ReadingOut(Out):
    ts: ZonedDatetime
    value: float


class TelemetryResult(Out):
    received: int
    stored: int
    duplicates: int
    dead_lettered: int
    warnings: list[int]


class WarningEventOut(Out):
    at: ZonedDatetime
    event: str
    level: str | None
    value: float | None
    note: str | None


class CaseRequestOut(Out):
    id: int
    status: str
    unit: str
    source: str
    source_ref: str
    title: str
    created_at: ZonedDatetime


class WarningOut(Out):
    id: int
    sensor: str
    network: str | None
    cause: str
    level: str
    max_level: str
    status: str
    opened_at: ZonedDatetime
    last_value: float | None
    last_at: ZonedDatetime | None
    normal_since: ZonedDatetime | None
    resolved_at: ZonedDatetime | None
    message: str
    case_state: str
    case_ref: str | None


class WarningDetail(WarningOut):
    events: list[WarningEventOut]
    impact: dict[str, Any] | None
    impact_error: str | None
    case_request: CaseRequestOut | None
    sensors_normal: bool = Field(description="the sensor has been normal for the configured time")


class ImpactRequest(Strict):
    pipe: str | None = Field(default=None, description="water: the pipe to isolate")
    junction: str | None = Field(default=None, description="gas: the leaking junction")
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    leak_kg_s: float = Field(default=0.05, gt=0, le=100)
    rain_mm: float | None = Field(default=None, gt=0, le=1000, description="drainage: design storm depth")
    hours: float = Field(default=2.0, gt=0, le=72)


class DeadLetterOut(Out):
    id: int
    received_at: ZonedDatetime
    channel: str
    topic: str | None
    payload: str
    reason: str
