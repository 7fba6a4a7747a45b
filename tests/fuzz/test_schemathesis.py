"""Schemathesis over /openapi.json, as admin and as citizen: no request may answer 5xx."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

EXAMPLES = int(os.environ.get("CITYLOOP_FUZZ_EXAMPLES", "8"))


@pytest.mark.parametrize("role", ["admin", "citizen"])
def test_no_server_errors(role: str, client: Any, token_for: Any) -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error

    headers = token_for(role)
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    found: list[str] = []
    count = [0]
    t0 = time.monotonic()
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = op.as_strategy(generation_mode=mode)
            except Exception as exc:  # noqa: BLE001
                found.append(f"{op.label}: no strategy {exc}")
                continue

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck), phases=[Phase.generate],
            )
            def run(case: Any) -> None:
                count[0] += 1
                try:
                    response = case.call(headers=headers)
                except Exception as exc:  # the app re-raises after its 500 reply
                    found.append(f"500 {type(exc).__name__}: {exc} {case.as_curl_command()}"[:600])
                    return
                if response.status_code >= 500:
                    found.append(f"{response.status_code} {case.as_curl_command()}"[:600])

            t1 = time.monotonic()
            try:
                run()
            except Unsatisfiable:
                pass  # nothing to make invalid (an operation without parameters)
            dt = time.monotonic() - t1
            if dt > 5:
                print(f"slow: {op.label} {mode} {dt:.1f}s")
    print(f"{role}: {count[0]} requests in {time.monotonic() - t0:.0f}s, {len(found)} server errors")
    for f in found:
        print(f)
    assert not found
