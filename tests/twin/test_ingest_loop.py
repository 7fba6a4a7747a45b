"""The broker-independent ingest loop with an in-memory source: acknowledgement only after commit,
poison messages dead-lettered (by the parser, by the database, by repeated delivery) while every
good reading around them is stored, and the loop never stops on input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from cityloop.core.db import session_scope
from cityloop.twin import telemetry
from cityloop.twin.ingest.loop import MAX_DELIVERIES, Delivery, Ingester
from cityloop.twin.models import DeadLetter, Reading
from tests.twin import durability as dur

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class FakeSource:
    description = "memory"

    def __init__(self, deliveries: list[Delivery]) -> None:
        self.waiting = list(deliveries)
        self.acked: list[Any] = []

    def connect(self) -> None:
        pass

    def fetch(self, max_readings: int, wait_s: float) -> list[Delivery]:
        batch, self.waiting = self.waiting[:50], self.waiting[50:]
        return batch

    def ack(self, deliveries: list[Delivery]) -> None:
        self.acked += [d.tag for d in deliveries]

    def sleep(self, seconds: float) -> None:
        pass

    def close(self) -> None:
        pass


def good(k: int) -> Delivery:
    body = json.dumps(
        [{"ts": (T0 + timedelta(seconds=k * 2 + i)).isoformat(), "value": 40.0} for i in range(2)]
    )
    return Delivery(f"cityloop/telemetry/{dur.SENSORS[k % 3]}", body.encode(), k)


def counts(url: str) -> tuple[int, list[str]]:
    with session_scope(url, write=False) as s:
        n = int(s.scalar(select(func.count()).select_from(Reading)) or 0)
        return n, list(s.scalars(select(DeadLetter.reason)))


def test_a_message_the_database_refuses_is_isolated_and_dead_lettered(live_db: str, monkeypatch: Any) -> None:
    """Splitting the batch finds the one message whose readings make the transaction fail; it is
    dead-lettered with the database's reason, the 119 others are stored, all 120 acknowledged."""
    dur.add_sensors(live_db)
    poison_ts = T0 + timedelta(seconds=77 * 2)
    real_store = telemetry.store_readings

    def store(session: Any, rows: list[tuple[int, datetime, float]]) -> int:
        if any(ts == poison_ts for _, ts, _ in rows):
            raise RuntimeError("value out of range for the column")  # what a database might say
        return real_store(session, rows)

    monkeypatch.setattr(telemetry, "store_readings", store)
    source = FakeSource([good(k) for k in range(120)])
    ingester = Ingester(source, db_url=live_db)
    while source.waiting:
        ingester.handle(source.fetch(5000, 0))
    stored, reasons = counts(live_db)
    assert stored == 119 * 2
    assert reasons == ["not storable: RuntimeError: value out of range for the column"]
    assert sorted(source.acked) == list(range(120))


def test_parser_failures_and_endless_redeliveries_become_dead_letters(live_db: str, monkeypatch: Any) -> None:
    dur.add_sensors(live_db)
    real = telemetry.parse_mqtt

    def parse(topic: str, payload: bytes) -> Any:
        if payload == b"boom":
            raise ZeroDivisionError("a parser bug")
        return real(topic, payload)

    monkeypatch.setattr("cityloop.twin.ingest.loop.parse_mqtt", parse)
    crashing = Delivery("cityloop/telemetry/DUR-1", b"boom", 1001)
    killer = Delivery("cityloop/telemetry/DUR-1", good(5).payload, 1002, redelivered=MAX_DELIVERIES)
    overflow = Delivery(
        "cityloop/telemetry/DUR-1", b'{"ts": "2026-03-01T00:00:00Z", "value": 1' + b"0" * 400 + b"}", 1003
    )
    source = FakeSource([good(0), crashing, good(1), killer, overflow, good(2)])
    Ingester(source, db_url=live_db).handle(source.fetch(5000, 0))
    stored, reasons = counts(live_db)
    assert stored == 6
    assert sorted(reasons) == sorted([
        "unparseable: ZeroDivisionError: a parser bug",
        f"delivered {MAX_DELIVERIES} times without being stored",
        "value is NaN, infinite or too large",
    ])  # fmt: skip
    assert sorted(source.acked) == [0, 1, 2, 1001, 1002, 1003]


def test_a_database_that_is_down_holds_the_batch_unacknowledged(live_db: str, monkeypatch: Any) -> None:
    """Down is not poison: nothing is dead-lettered or acknowledged while it is down."""
    dur.add_sensors(live_db)
    source = FakeSource([good(0), good(1)])
    ingester = Ingester(source, db_url=live_db)
    tries = {"n": 0}

    def down(*_: Any, **__: Any) -> Any:
        tries["n"] += 1
        if tries["n"] >= 5:
            ingester.stop()  # SIGTERM while waiting: the batch stays with the broker
        raise OSError("connection refused")

    monkeypatch.setattr("cityloop.twin.ingest.loop.session_scope", down)
    ingester.run(max_seconds=30)
    assert source.acked == []
    monkeypatch.undo()
    assert counts(live_db) == (0, [])


@pytest.mark.parametrize(
    "body",
    [
        b'[{"sensor": "DUR-1", "ts": "2026-03-01T00:00:00Z", "value": 1' + b"0" * 400 + b"}]",
        b'[{"sensor": "DUR-1", "ts": "2026-03-01T00:00:00Z", "value": 1' + b"0" * 5000 + b"}]",
        b"[" * 200_000,
        b'[{"sensor": "DUR\\u0000", "ts": "2026-03-01T00:00:00Z", "value": 1}]',
        b'[{"sensor": "DUR-1", "ts": "9999-12-31T23:59:59-08:00", "value": 1}]',
    ],
    ids=["400-digits", "5000-digits", "deep", "nul-sensor", "end-of-calendar"],
)
def test_http_batch_answers_poison_without_a_server_error(
    client: Any, db: Any, token_for: Any, body: bytes
) -> None:
    dur.add_sensors_session(db)
    r = client.post(
        "/api/v1/telemetry",
        headers={**token_for("operator"), "content-type": "application/json"},
        content=body,
    )
    # Refused whole by the request guard (core.jsonlimits: too long a number, too deep, a control
    # character) or dead-lettered item by item: never a server error, never stored.
    assert r.status_code in (200, 400, 422), r.text
    if r.status_code == 200:
        assert r.json()["dead_lettered"] == 1 and r.json()["stored"] == 0
    else:
        assert r.json()["error"]["code"] in {
            "invalid_json",
            "number_too_long",
            "json_too_deep",
            "control_character",
        }


def test_concurrent_http_batches_are_all_stored(live_db: str) -> None:
    """Batches are parsed and stored in worker threads; two clients at once against ``cityloop
    serve`` (on SQLite the sign-in check's transaction held the write lock while waiting for the
    ingest lock that the other batch held, waiting for the write lock: 500 after the busy timeout)."""
    import os
    import subprocess
    import sys
    import threading
    import time

    import httpx

    from cityloop.core.audit import Actor
    from cityloop.org import service as org
    from tests.conftest import ROOT
    from tests.twin.brokers import free_port, wait_port

    dur.add_sensors(live_db)
    with session_scope(live_db) as s:
        token = org.create_token(s, actor=Actor("t"), user=org.get_user(s, username="operator"), name="gw")
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    answers: list[tuple[int, int]] = []
    port = free_port()
    env = {**os.environ, "CITYLOOP_DATABASE_URL": live_db, "PYTHONPATH": str(ROOT / "src")}
    server = subprocess.Popen(
        [sys.executable, "-m", "cityloop", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def body(b: int) -> bytes:
        stamps = [(T0 + timedelta(seconds=b * 3000 + i)).isoformat() for i in range(3000)]
        readings = [{"sensor": dur.SENSORS[i % 10], "ts": ts, "value": 40.0} for i, ts in enumerate(stamps)]
        return json.dumps(readings).encode()

    def post(first: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as http:
            for b in range(first, 12, 2):
                r = http.post("/api/v1/telemetry", content=body(b))
                answers.append((r.status_code, r.json().get("stored", -1) if r.status_code == 200 else -1))

    try:
        wait_port(port, 60, "cityloop serve", server)
        time.sleep(0.5)
        threads = [threading.Thread(target=post, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert sorted(answers) == [(200, 3000)] * 12
    assert counts(live_db) == (36000, [])
