"""The server is killed (SIGKILL) in the middle of a burst of reports; after a restart and retries with the
same Idempotency-Keys, every report that was ever answered 2xx exists exactly once."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from cityloop.cases.models import Case
from cityloop.core.db import reset_engines, session_scope
from tests.cases.conftest import live_token
from tests.cases.helpers import YJP, point_in


def test_sigkill_during_a_burst_loses_and_doubles_nothing(server) -> None:
    with session_scope(write=False) as s:
        lon, lat = point_in(s, f"{YJP}-C1-G1")
        before = s.scalar(select(func.count()).select_from(Case))
    reset_engines()
    h = live_token("inspector")
    keys = [f"burst-{uuid.uuid4()}" for _ in range(160)]
    acked: dict[str, int] = {}
    lock = threading.Lock()
    answered = threading.Event()

    def send(key: str, client: httpx.Client) -> None:
        body = {"category": "SJ0102", "lon": lon, "lat": lat, "description": key, "source_ref": key}
        try:
            r = client.post("/api/v1/cases", headers={**h, "Idempotency-Key": key}, json=body)
        except httpx.HTTPError:
            return  # no answer: the client does not know, so it will retry
        if r.status_code in (200, 201):
            with lock:
                acked[key] = r.json()["id"]
                if len(acked) >= 40:
                    answered.set()

    def worker(chunk: list[str]) -> None:
        with httpx.Client(base_url=server.base, timeout=10) as c:
            for key in chunk:
                send(key, c)

    chunks = [keys[i::8] for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(worker, chunk) for chunk in chunks]
        assert answered.wait(timeout=120), "the burst never got going"
        server.kill()
        for f in futures:
            f.result()
    first_round = dict(acked)
    assert 40 <= len(first_round) < len(keys), "the kill must land mid-burst"

    server.start()
    # Retry everything (acknowledged ones too: a client may not have seen its answer).
    with httpx.Client(base_url=server.base, timeout=30) as c:
        for key in keys:
            body = {"category": "SJ0102", "lon": lon, "lat": lat, "description": key, "source_ref": key}
            r = c.post("/api/v1/cases", headers={**h, "Idempotency-Key": key}, json=body)
            assert r.status_code in (200, 201), r.text
            if key in first_round:
                assert r.status_code == 200 and r.json()["id"] == first_round[key]
            acked[key] = r.json()["id"]

    with session_scope(write=False) as s:
        per_key = dict(
            s.execute(
                select(Case.source_ref, func.count())
                .where(Case.source_ref.in_(keys))
                .group_by(Case.source_ref)
            ).all()
        )
        total = s.scalar(select(func.count()).select_from(Case))
    assert per_key == {k: 1 for k in keys}
    assert total == before + len(keys)
