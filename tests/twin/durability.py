"""Counting every reading across ingester kills and broker restarts (tests and
bench/telemetry_durability.py share this).

Devices are one QoS 1 MQTT publisher that sends gateway batches (``per_message`` readings a
message) on a background thread while ingesters (``cityloop twin ingest-mqtt`` processes) are
killed and restarted; a reading counts as *sent* once the broker acknowledged its message. At the
end every sent reading must be stored exactly once with the value sent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, tzinfo=UTC)
SENSORS = [f"DUR-{i}" for i in range(10)]


def value_of(m: int, i: int) -> float:
    return 30.0 + ((m * 7 + i) % 100) / 10.0  # inside every plausible pressure range


def reading_ts(m: int, i: int, per_message: int) -> datetime:
    return T0 + timedelta(seconds=m * per_message + i)


def payload(m: int, per_message: int) -> bytes:
    return json.dumps(
        [
            {"ts": reading_ts(m, i, per_message).isoformat(), "value": value_of(m, i)}
            for i in range(per_message)
        ]
    ).encode()


def add_sensors(url: str, codes: list[str] = SENSORS) -> None:
    from cityloop.core.db import session_scope

    with session_scope(url) as s:
        add_sensors_session(s, codes)


def add_sensors_session(s: Any, codes: list[str] = SENSORS) -> None:
    from sqlalchemy import insert, select

    from cityloop.org.models import Unit
    from cityloop.twin.models import Sensor

    unit_id = s.scalar(select(Unit.id).where(Unit.code == "util-water"))
    s.execute(
        insert(Sensor),
        [
            {"code": c, "kind": "pressure", "measure_unit": "m", "unit_id": unit_id, "lon": 106.5,
             "lat": 29.5, "rules": {}, "active": True}
            for c in codes
        ],
    )  # fmt: skip


class Publisher:
    """QoS 1, MQTT 3.1.1 (what RabbitMQ 3.10's plugin and NATS speak), pipelined: up to ``inflight``
    messages unacknowledged. ``acked`` counts readings whose message the broker acknowledged."""

    def __init__(
        self, device_url: str, client_id: str = "cityloop-test-gateway", inflight: int = 200
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from cityloop.twin.ingest.mqtt import parse_broker

        host, port = parse_broker(device_url)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(inflight)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        self.published = 0  # messages handed to the client
        self.acked = 0  # readings acknowledged by the broker
        self.acked_messages: list[int] = []
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def send(self, first: int, count: int, per_message: int, rate: float | None = None) -> None:
        """Publish messages first … first+count-1 and wait for every acknowledgement."""
        pending = []
        started = time.monotonic()
        for k, m in enumerate(range(first, first + count)):
            topic = f"cityloop/telemetry/{SENSORS[m % len(SENSORS)]}"
            pending.append((m, self.client.publish(topic, payload(m, per_message), qos=1)))
            self.published += 1
            if rate:
                ahead = started + (k + 1) / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        for m, info in pending:
            info.wait_for_publish(timeout=300)
            if info.is_published():
                self.acked += per_message
                self.acked_messages.append(m)

    def send_in_background(self, first: int, count: int, per_message: int, rate: float | None = None) -> None:
        def run() -> None:
            try:
                self.send(first, count, per_message, rate)
            except BaseException as exc:  # reported by join()
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Ingesters:
    """``cityloop twin ingest-mqtt`` processes on a database, each restartable by index."""

    db_url: str
    broker: str
    count: int
    extra: list[str] = field(default_factory=list)
    log_dir: Path | None = None
    procs: list[subprocess.Popen[bytes] | None] = field(default_factory=list)

    def start(self, i: int | None = None) -> None:
        which = range(self.count) if i is None else [i]
        while len(self.procs) < self.count:
            self.procs.append(None)
        for k in which:
            env = {**os.environ, "CITYLOOP_DATABASE_URL": self.db_url, "PYTHONPATH": str(ROOT / "src")}
            log: Any = subprocess.DEVNULL
            if self.log_dir is not None:
                log = open(self.log_dir / f"ingester-{k}.log", "ab")  # noqa: SIM115 - lives with the process
            self.procs[k] = subprocess.Popen(
                [sys.executable, "-m", "cityloop", "twin", "ingest-mqtt", "--broker", self.broker,
                 "--client-id", f"cityloop-test-ingester-{k}", *self.extra],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def signal(self, i: int, sig: int) -> None:
        proc = self.procs[i]
        assert proc is not None
        proc.send_signal(sig)
        proc.wait(timeout=60)
        self.procs[i] = None

    def alive(self, i: int) -> bool:
        proc = self.procs[i]
        return proc is not None and proc.poll() is None

    def stop(self) -> None:
        for i, proc in enumerate(self.procs):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
                self.procs[i] = None


def stored(url: str) -> int:
    from sqlalchemy import func, select

    from cityloop.core.db import session_scope
    from cityloop.twin.models import Reading

    with session_scope(url, write=False) as s:
        return int(s.scalar(select(func.count()).select_from(Reading)) or 0)


def wait_stored(url: str, target: int, *, quiet_s: float = 60.0, timeout: float = 600.0) -> int:
    """Until ``target`` rows are stored, or nothing new arrived for ``quiet_s`` seconds."""
    deadline = time.monotonic() + timeout
    last, last_change = stored(url), time.monotonic()
    while last < target and time.monotonic() < deadline and time.monotonic() - last_change < quiet_s:
        time.sleep(0.2)
        now = stored(url)
        if now != last:
            last, last_change = now, time.monotonic()
    return last


def dead_letters(url: str) -> int:
    from sqlalchemy import func, select

    from cityloop.core.db import session_scope
    from cityloop.twin.models import DeadLetter

    with session_scope(url, write=False) as s:
        return int(s.scalar(select(func.count()).select_from(DeadLetter)) or 0)


def wait_subscribed(url: str, pub: Publisher, timeout: float = 120.0) -> None:
    """Malformed probes until one is dead-lettered: then an ingester is consuming (a broker keeps
    nothing for a subscription or a queue that does not exist yet)."""
    seen = dead_letters(url)
    deadline = time.monotonic() + timeout
    while dead_letters(url) == seen:
        if time.monotonic() > deadline:
            raise RuntimeError("no ingester consumed a probe")
        pub.client.publish(f"cityloop/telemetry/{SENSORS[0]}", b"{probe", qos=1).wait_for_publish(10)
        time.sleep(0.3)
    settled = dead_letters(url)  # probes still in flight land now, not in the middle of a count
    while time.sleep(1.0) is None and dead_letters(url) != settled:
        settled = dead_letters(url)


def wait_until(check: Callable[[], bool], timeout: float = 300.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


@dataclass
class Count:
    sent: int
    stored: int
    lost: int  # sent readings missing from the table
    doubled: int  # rows beyond one per sent reading (the (sensor, ts) key forbids them)
    wrong: int  # stored readings whose value is not the one sent
    dead_letters: int

    def row(self) -> str:
        return f"{self.sent} / {self.stored} / {self.lost} / {self.doubled}"


def count(url: str, pub: Publisher, per_message: int) -> Count:
    """Compare the table with what the broker acknowledged, reading by reading."""
    from sqlalchemy import func, select

    from cityloop.core.db import session_scope
    from cityloop.twin.models import DeadLetter, Reading, Sensor

    expected: dict[tuple[str, datetime], float] = {}
    for m in pub.acked_messages:
        for i in range(per_message):
            expected[(SENSORS[m % len(SENSORS)], reading_ts(m, i, per_message))] = value_of(m, i)
    with session_scope(url, write=False) as s:
        rows = s.execute(
            select(Sensor.code, Reading.ts, Reading.value).join(Sensor, Sensor.id == Reading.sensor_id)
        ).all()
        dead = int(s.scalar(select(func.count()).select_from(DeadLetter)) or 0)
    seen: dict[tuple[str, datetime], int] = {}
    wrong = 0
    for code, ts, value in rows:
        key = (code, ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC))
        seen[key] = seen.get(key, 0) + 1
        if key in expected and abs(expected[key] - value) > 1e-9:
            wrong += 1
    lost = sum(1 for k in expected if k not in seen)
    doubled = sum(n - 1 for n in seen.values())
    return Count(len(expected), len(rows), lost, doubled, wrong, dead)


def kill_restart(
    url: str,
    device_url: str,
    broker: str,
    *,
    ingesters: int,
    messages: int,
    per_message: int,
    extra: list[str] | None = None,
    backlog: int = 1500,
    rate: float | None = None,
    quiet_s: float = 60.0,
    log_dir: Path | None = None,
) -> Count:
    """The standard scenario: publish ``messages`` in the background; SIGKILL ingester 0 once some
    readings are stored and keep it down until ``backlog`` more messages were published; restart it;
    SIGTERM the last ingester in the middle of the drain and restart it; count."""
    pub = Publisher(device_url)
    group = Ingesters(url, broker, ingesters, extra or [], log_dir)
    total = messages * per_message
    try:
        group.start()
        wait_subscribed(url, pub)
        pub.send_in_background(0, messages, per_message, rate)
        wait_until(lambda: stored(url) >= total // 10, timeout=120)
        killed_at = pub.published
        group.signal(0, signal.SIGKILL)  # mid-stream: a batch may be stored and not acknowledged
        wait_until(
            lambda: pub.published >= min(messages, killed_at + backlog) or pub.thread is None, timeout=300
        )
        group.start(0)
        last = ingesters - 1
        floor = stored(url)
        wait_until(lambda: stored(url) >= floor + (total - floor) // 3, timeout=120)
        group.signal(last, signal.SIGTERM)  # in the middle of draining the backlog
        time.sleep(0.5)
        group.start(last)
        pub.join()
        wait_stored(url, pub.acked, quiet_s=quiet_s)
        time.sleep(1.0)  # anything redelivered late must not add rows
    finally:
        group.stop()
        pub.close()
    return count(url, pub, per_message)


def broker_restart(
    url: str,
    broker_proc: Any,
    *,
    messages: int,
    per_message: int,
    hard: bool = True,
    quiet_s: float = 60.0,
    extra: list[str] | None = None,
    log_dir: Path | None = None,
    keep_ingester: bool = False,
) -> Count:
    """Half the messages are published (the ingester killed after the first quarter, so most wait
    in the broker; or, with ``keep_ingester``, left running), the broker crashes (SIGKILL, or stops
    with ``hard=False``) and restarts, the ingester comes back (or reconnects by itself) and the
    device reconnects and sends the rest; count."""
    group = Ingesters(url, broker_proc.url, 1, extra or [], log_dir)
    first = Publisher(broker_proc.device_url)
    half = messages // 2
    try:
        group.start()
        wait_subscribed(url, first)
        first.send(0, half // 2, per_message)
        wait_until(lambda: stored(url) > 0, timeout=120)
        if not keep_ingester:
            group.signal(0, signal.SIGKILL)
        first.send(half // 2, half - half // 2, per_message)  # acknowledged, queued, not consumed
    finally:
        first.close()
    broker_proc.restart(hard=hard)
    second = Publisher(broker_proc.device_url, client_id="cityloop-test-gateway-2")
    try:
        if keep_ingester:
            assert group.alive(0), "the ingester died with the broker"  # it reconnects by itself
        else:
            group.start(0)
        second.send(half, messages - half, per_message)
        second.acked_messages = first.acked_messages + second.acked_messages
        second.acked += first.acked
        wait_stored(url, second.acked, quiet_s=quiet_s)
        time.sleep(1.0)  # anything redelivered late must not add rows
    finally:
        group.stop()
        second.close()
    return count(url, second, per_message)
