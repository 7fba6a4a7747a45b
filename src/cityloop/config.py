"""One Settings object, read from the environment (prefix ``CITYLOOP_``) and an optional ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYLOOP_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///var/cityloop.db"
    # Signs session cookies. The default is only fit for a laptop demo; `cityloop serve` warns about it.
    secret_key: str = "change-me-this-is-the-demo-secret"
    default_locale: str = "zh-CN"
    display_timezone: str = "Asia/Shanghai"
    # Empty: the map shows only the project's own vector layers (a district runs its own tile server).
    base_tile_url: str = ""
    base_tile_attribution: str = ""
    # Requests larger than this are refused with 413 before the body is read.
    # Build per-process caches (the battle map's chart summary) in a thread when the server starts;
    # `cityloop serve` turns it on, tests leave it off.
    warm_caches: bool = False
    max_body_bytes: int = 1_048_576
    max_upload_bytes: int = 10 * 1_048_576
    # Failed sign-ins: after `login_max_failures` the account is locked for `login_lock_minutes`.
    login_max_failures: int = 5
    login_lock_minutes: int = 15
    session_max_age_seconds: int = 12 * 3600
    # Cookies marked Secure: "auto" when the request came over HTTPS (behind a proxy: see
    # forwarded_allow_ips), "true" always, "false" never (docs/operations/https.md).
    cookie_secure: Literal["auto", "true", "false"] = "auto"
    # `cityloop serve` believes X-Forwarded-Proto/-For only from these addresses (comma-separated, "*" any).
    forwarded_allow_ips: str = "127.0.0.1"
    # Where the worker sleeps between scans.
    worker_interval_seconds: float = 5.0
    # Digital twin: the warning-rule defaults (CSV; empty = the shipped defaults).
    twin_rules_file: Path | None = None
    # Physical plausibility range per sensor kind (CSV; empty = the shipped defaults): a reading outside
    # its kind's range is dead-lettered with the reason and never judged by the warning rules.
    twin_ranges_file: Path | None = None
    # Telemetry broker (decision 0018): devices publish MQTT to RabbitMQ's MQTT listener
    # (`mqtt_broker`, what `twin simulate --via mqtt` publishes to); ingesters consume the durable
    # queue `telemetry_queue` over AMQP (`telemetry_broker`). An mqtt:// telemetry_broker makes the
    # ingester subscribe over plain MQTT instead.
    mqtt_broker: str = "mqtt://127.0.0.1:1884"
    telemetry_broker: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    telemetry_queue: str = "cityloop.telemetry"
    # Real data sets live beside the repository; code that needs them checks for their presence.
    shared_dir: Path = PROJECT_ROOT.parent / "shared"
    # Case intelligence: a suggested category at least this confident is pre-filled for the dispatcher;
    # below it the case goes to manual triage. Hotspots look back this many days.
    insight_prefill_confidence: float = 0.8
    insight_hotspot_days: int = 180
    # Cases (一口响应). Tracking numbers read PREFIX-YEAR-NNNNNN.
    case_tracking_prefix: str = "JLP"
    # Attachments: "local" (files under case_storage_dir) or "memory" (tests).
    case_storage: str = "local"
    case_storage_dir: Path = PROJECT_ROOT / "var" / "attachments"
    case_attachment_max_bytes: int = 8 * 1_048_576
    # Working-hours calendar for deadlines, e.g. "09:00-12:00,14:00-18:00" in the display zone;
    # empty: deadlines run round the clock.
    case_working_hours: str = ""
    case_working_days: str = "1,2,3,4,5"
    case_holidays: str = ""  # comma-separated ISO dates
    # Reminder and escalation points, in percent of a step's allowed time.
    case_remind_percent: int = 80
    case_escalate_percent: int = 100
    # Enforcement categories go to the squadron whose code is this pattern filled with the street's code.
    case_squadron_code: str = "enf-{street}"

    @field_validator("cookie_secure", mode="before")
    @classmethod
    def _cookie_secure_words(cls, value: Any) -> Any:
        """The usual spellings of a yes/no (the setting was a boolean before "auto")."""
        words = {"1": "true", "yes": "true", "on": "true", "0": "false", "no": "false", "off": "false"}
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return words.get(value.strip().lower(), value.strip().lower())
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
