"""Schemathesis over /openapi.json against the app in process, as admin and as citizen.

Every operation gets ``EXAMPLES`` valid and ``EXAMPLES`` invalid requests (schemathesis's positive and
negative generation, derandomised so a run is repeatable). Checks: ``not_a_server_error`` on every
answer, and on every JSON 4xx outside Open311 the standard error body (Open311 answers the GeoReport
error list its spec prescribes). All server errors are collected, not only the first, and the test
prints how many requests it made. No operation is excluded.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from typing import Any

import pytest

EXAMPLES = int(os.environ.get("CITYLOOP_FUZZ_EXAMPLES", "12"))
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*(?::[^{}]*)?\}")


def error_body_on_4xx(ctx: Any, response: Any, case: Any) -> None:
    """A JSON 4xx is ``{"error": {"code", "message", "details"}}`` with a filled message."""
    if not 400 <= response.status_code < 500 or case.operation.path.startswith("/open311/"):
        return
    if "json" not in (response.headers.get("content-type") or [""])[0]:
        return
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict) and set(error) == {"code", "message", "details"}, body
    assert error["code"].isidentifier(), error
    # A placeholder left unfilled ("{code}"), unless the caller sent that very text (it is echoed).
    sent = f"{case.formatted_path} {case.query} {case.body}"
    assert all(p in sent for p in PLACEHOLDER.findall(error["message"])), error


@pytest.mark.parametrize("role", ["admin", "citizen"])
def test_schemathesis_finds_no_server_error(role: str, client: Any, token_for: Any) -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error

    headers = token_for(role)
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    server: list[str] = []  # 5xx
    found: list[str] = []  # every failed check (5xx included)
    requests = [0]
    started = time.monotonic()
    spent: dict[str, float] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=op.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.generate],
            )
            def run(case: Any) -> None:
                requests[0] += 1
                try:
                    response = case.call(headers=headers)
                except Exception as exc:  # the app re-raises after answering 500
                    server.append(f"500 {type(exc).__name__}: {exc} | {case.as_curl_command()}"[:500])
                    return
                if response.status_code >= 500:
                    server.append(f"{response.status_code} | {case.as_curl_command()}"[:500])
                try:
                    case.validate_response(response, checks=[not_a_server_error, error_body_on_4xx])
                except (Exception, BaseExceptionGroup) as exc:  # a FailureGroup names the failed checks
                    found.append(f"{response.status_code} {exc} | {case.as_curl_command()}"[:500])

            t0 = time.monotonic()
            with contextlib.suppress(Unsatisfiable):  # no invalid request exists (no parameters or body)
                run()
            spent[op.label] = spent.get(op.label, 0.0) + time.monotonic() - t0
    took = time.monotonic() - started
    print(
        f"\n{role}: {len(operations)} operations, {requests[0]} requests in {took:.0f} s, {len(found)} failed"
    )
    slowest = sorted(spent.items(), key=lambda kv: -kv[1])[:8]
    print("slowest operations:", ", ".join(f"{label} {t:.0f} s" for label, t in slowest))
    assert len(operations) > 100
    assert found == [], (
        f"{len(server)} server errors, {len(found)} failed checks in {requests[0]} requests:\n"
        + "\n".join(found[:80])
    )
