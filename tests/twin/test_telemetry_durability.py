"""Every reading counted across ingester kills and a broker crash, on the production set-up: devices
publish MQTT QoS 1 to RabbitMQ's MQTT plugin, ``cityloop twin ingest-mqtt`` consumes the durable
queue over AMQP (decision 0018). The broker is a private RabbitMQ node started here
(tests/twin/brokers.py), one per test process, so killing it touches nothing else.

Gateways send batches, so a message carries a few readings; the backlog after the first kill is
more than 1,500 messages (a 1,000-message receive window, the old failure, would show)."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tests.twin import durability as dur
from tests.twin.brokers import RABBIT_SERVER, Rabbit


@pytest.fixture(scope="session")
def rabbit_node() -> Iterator[Rabbit]:
    if not RABBIT_SERVER.exists():
        pytest.skip("needs rabbitmq-server (apt-get install rabbitmq-server; .ci/run installs it)")
    node = Rabbit()
    node.start()
    yield node
    node.close()


@pytest.fixture
def rabbit(rabbit_node: Rabbit, live_db: str) -> Iterator[Rabbit]:
    """The node with no telemetry queue left from an earlier test (its messages name the same
    sensors); the sensors exist in this test's database."""
    import pika

    if rabbit_node.proc is None:  # an earlier test failed while the broker was down
        rabbit_node.start()
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_node.url))
    connection.channel().queue_delete("cityloop.telemetry")
    connection.close()
    dur.add_sensors(live_db)
    yield rabbit_node


def _assert_all_stored(c: dur.Count, sent: int) -> None:
    assert c.sent == sent  # the broker acknowledged every message
    assert (c.stored, c.lost, c.doubled, c.wrong) == (sent, 0, 0, 0), c


def test_sigkill_backlog_and_sigterm_one_ingester(live_db: str, rabbit: Rabbit) -> None:
    c = dur.kill_restart(
        live_db, rabbit.device_url, rabbit.url, ingesters=1, messages=2000, per_message=3, backlog=1600
    )
    _assert_all_stored(c, 6000)


def test_sigkill_and_sigterm_with_two_ingesters_sharing_the_queue(live_db: str, rabbit: Rabbit) -> None:
    c = dur.kill_restart(live_db, rabbit.device_url, rabbit.url, ingesters=2, messages=1250, per_message=4)
    _assert_all_stored(c, 5000)


def test_broker_crash_with_a_backlog(live_db: str, rabbit: Rabbit) -> None:
    """RabbitMQ SIGKILLed with ~2,500 readings acknowledged to the device and not yet consumed."""
    c = dur.broker_restart(live_db, rabbit, messages=1000, per_message=5, hard=True)
    _assert_all_stored(c, 5000)


def test_broker_crash_under_a_running_ingester(live_db: str, rabbit: Rabbit) -> None:
    """The ingester stays up through the crash, reconnects by itself, and what it had stored but
    not acknowledged comes again and is stored once."""
    c = dur.broker_restart(live_db, rabbit, messages=600, per_message=5, hard=True, keep_ingester=True)
    _assert_all_stored(c, 3000)


POISON = [
    ("cityloop/telemetry/DUR-1", b"{not json", "malformed JSON"),
    (
        "cityloop/telemetry/DUR-1",
        b'{"ts": "2026-03-01T00:00:00Z", "value": ' + b"9" * 400 + b"}",
        "too large",
    ),
    ("cityloop/telemetry/DUR-1", b'{"ts": "2026-03-01T00:00:00Z", "value": 1' + b"0" * 5000 + b"}", "JSON"),
    ("cityloop/telemetry/DUR-1", b'{"ts": "2026-03-01T00:00:00Z", "value": NaN}', "NaN"),
    ("cityloop/telemetry/DUR-1", b'{"ts": "2026-03-01T00:00:00Z", "value": 1e999}', "infinite"),
    ("cityloop/telemetry/DUR-1", b'{"ts": "0001-01-01T00:00:00+08:00", "value": 1}', "outside 1900"),
    ("cityloop/telemetry/DUR-1", b"[" * 100_000, "malformed JSON"),
    ("cityloop/telemetry/DUR-1", b'{"ts": "2026-03-01T00:00:00Z", "value": "\\u0000"}', "not a number"),
    ("cityloop/telemetry/DUR-1", b"\xff\xfe\x00garbage", "malformed JSON"),
    ("cityloop/telemetry/NO-SUCH-SENSOR", b'{"ts": "2026-03-01T00:00:00Z", "value": 1}', "unknown sensor"),
    ("cityloop/telemetry/DUR-1/extra", b'{"ts": "2026-03-01T00:00:00Z", "value": 1}', "unknown sensor"),
]


def _reasons(url: str) -> list[str]:
    from cityloop.core.db import session_scope
    from cityloop.twin.models import DeadLetter

    with session_scope(url, write=False) as s:
        return list(s.scalars(select(DeadLetter.reason).order_by(DeadLetter.id)))


def test_poison_between_good_readings_is_dead_lettered_and_the_ingester_lives(
    live_db: str, rabbit: Rabbit
) -> None:
    group = dur.Ingesters(live_db, rabbit.url, 1)
    pub = dur.Publisher(rabbit.device_url)
    per = 5
    try:
        group.start()
        dur.wait_subscribed(live_db, pub)
        probes = len(_reasons(live_db))
        m = 0
        for round_ in range(2):
            for topic, body, _ in POISON:
                pub.send(m, 20, per)  # good readings before and after every poison message
                m += 20
                assert pub.client.publish(topic, body, qos=1).wait_for_publish(10) is None
            pub.send(m, 20, per)
            m += 20
            expected = m * per
            assert dur.wait_stored(live_db, expected, quiet_s=60) == expected
            assert dur.wait_until(
                lambda r=round_: len(_reasons(live_db)) >= probes + len(POISON) * (r + 1), 60
            )
            assert group.alive(0), "the ingester died on input"
            if round_ == 0:  # and after a restart (a redelivered poison message must not kill it)
                group.signal(0, signal.SIGTERM)
                group.start(0)
    finally:
        group.stop()
        pub.close()
    c = dur.count(live_db, pub, per)
    _assert_all_stored(c, m * per)
    reasons = _reasons(live_db)[probes:]
    assert len(reasons) == 2 * len(POISON)  # each poison message exactly once per round
    for why in {why for _, _, why in POISON}:
        expected_n = 2 * sum(1 for _, _, w in POISON if w == why)
        assert sum(1 for r in reasons if why in r) >= expected_n, (why, reasons)


def test_ingester_declares_the_queue_and_setup_only_exits(live_db: str, rabbit: Rabbit) -> None:
    """Devices' messages are kept from the moment the queue exists: ``--setup-only`` creates it
    with no ingester running, and what is published then is stored once an ingester starts."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    done = subprocess.run(
        [sys.executable, "-m", "cityloop", "twin", "ingest-mqtt", "--broker", rabbit.url, "--setup-only"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pub = dur.Publisher(rabbit.device_url)
    try:
        pub.send(0, 400, 5)
    finally:
        pub.close()
    group = dur.Ingesters(live_db, rabbit.url, 1)
    try:
        group.start()
        assert dur.wait_stored(live_db, 2000, quiet_s=60) == 2000
    finally:
        group.stop()
    bad = subprocess.run(
        [sys.executable, "-m", "cityloop", "twin", "ingest-mqtt", "--broker", "amqp://"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "amqp://USER:PASSWORD@HOST:PORT/VHOST" in bad.stdout + bad.stderr
