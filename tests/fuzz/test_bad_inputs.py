"""The bad-input battery (tests/fuzz/battery.py) against every operation: no 5xx, every 4xx the standard
error body (Open311: its spec's error list), and a refused write leaves every table as it was."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.fuzz.battery import Probe, page_probes, probes
from tests.fuzz.test_schemathesis import PLACEHOLDER


def _row_counts(db: Any) -> tuple[int, ...]:
    """Rows in every table, in one statement (a refused write must leave all of them as they were)."""
    from sqlalchemy import text

    import cityloop.all_models  # noqa: F401
    from cityloop.core.db import Base

    tables = sorted(Base.metadata.tables)
    sql = "SELECT " + ", ".join(f'(SELECT count(*) FROM "{t}")' for t in tables)
    return tuple(db.execute(text(sql)).one())


def _send(client: Any, probe: Probe, headers: dict[str, str]) -> Any:
    sent = dict(headers)
    if probe.content_type:
        sent["Content-Type"] = probe.content_type
    return client.request(probe.method, probe.path, params=probe.query, content=probe.body, headers=sent)


def _error_shape_problem(probe: Probe, response: Any) -> str | None:
    if response.status_code < 400 or response.status_code >= 500:
        return None
    if probe.path.startswith("/open311/"):
        if response.headers.get("content-type", "").startswith("text/xml"):
            from xml.etree import ElementTree as ET

            root = ET.fromstring(response.content)
            return None if root.tag == "errors" and root.find("error/code") is not None else "open311 xml"
        body = response.json()
        return None if isinstance(body, list) and {"code", "description"} <= set(body[0]) else "open311 json"
    if not response.headers.get("content-type", "").startswith("application/json"):
        return None  # a page answering a browser: the message is on the page
    error = response.json().get("error") if isinstance(response.json(), dict) else None
    if not isinstance(error, dict) or set(error) != {"code", "message", "details"}:
        return "not the standard error body"
    sent = f"{probe.path} {probe.query} {(probe.body or b'')[:2000]!r}"
    if not error["code"].isidentifier() or any(p not in sent for p in PLACEHOLDER.findall(error["message"])):
        return f"message {error['message']!r} / code {error['code']!r}"
    return None


@pytest.mark.parametrize("role", ["admin", "citizen"])
def test_the_battery_finds_no_server_error_and_stores_nothing(
    role: str, client: Any, db: Any, token_for: Any
) -> None:
    from cityloop.config import get_settings

    headers = {**token_for(role), "Accept-Language": "en"}
    spec = client.get("/openapi.json").json()
    battery = list(probes(spec, get_settings().max_body_bytes)) + list(page_probes(client.app))
    server_errors: list[str] = []
    shape_errors: list[str] = []
    stored: list[str] = []
    statuses: Counter[int] = Counter()
    accepted: list[str] = []
    for probe in battery:
        before = _row_counts(db) if probe.is_write else None
        try:
            response = _send(client, probe, headers)
        except Exception as exc:  # the app re-raises after its 500 answer
            server_errors.append(
                f"{probe.method} {probe.path} {probe.what}: {type(exc).__name__}: {exc}"[:300]
            )
            continue
        statuses[response.status_code] += 1
        if response.status_code < 300 and probe.is_write:
            accepted.append(f"{response.status_code} {probe.method} {probe.path} {probe.what}")
        if response.status_code >= 500:
            server_errors.append(f"{response.status_code} {probe.method} {probe.path} {probe.what}"[:300])
            continue
        problem = _error_shape_problem(probe, response)
        if problem:
            shape_errors.append(f"{probe.method} {probe.path} {probe.what}: {problem}"[:300])
        if before is not None and response.status_code >= 400 and _row_counts(db) != before:
            stored.append(f"{response.status_code} {probe.method} {probe.path} {probe.what}")
    print(f"\n{role}: {len(battery)} bad inputs, statuses {dict(sorted(statuses.items()))}")
    print("accepted writes:", *accepted, sep="\n  ")
    assert len(battery) > 1000
    assert server_errors == [], (
        f"{len(server_errors)} server errors in {len(battery)} requests:\n" + "\n".join(server_errors[:60])
    )
    assert shape_errors == [], "\n".join(shape_errors[:40])
    assert stored == [], "refused yet stored:\n" + "\n".join(stored[:40])
