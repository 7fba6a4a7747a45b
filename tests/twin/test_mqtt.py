"""The plain MQTT subscription (``--broker mqtt://…``), kept for small deployments, on Debian's
Mosquitto with the "nothing lost" configuration (persistence, no queue limits; tests/twin/brokers.py):
an ingester SIGKILLed mid-stream and kept down for a backlog of more than 1,500 messages, then
SIGTERMed while draining, stores every acknowledged reading once. (A Mosquitto *crash* loses what
it acknowledged since its last autosave — decision 0018 — which is why RabbitMQ is the default.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.twin import durability as dur
from tests.twin.brokers import MOSQUITTO, Mosquitto


@pytest.fixture
def mosquitto(live_db: str) -> Iterator[Mosquitto]:
    if not MOSQUITTO.exists():
        pytest.skip("needs /usr/sbin/mosquitto (apt-get install mosquitto; .ci/run installs it)")
    broker = Mosquitto()
    broker.start()
    dur.add_sensors(live_db)
    yield broker
    broker.close()


def test_plain_subscription_survives_ingester_kills_with_a_large_backlog(
    live_db: str, mosquitto: Mosquitto
) -> None:
    c = dur.kill_restart(
        live_db, mosquitto.device_url, mosquitto.url, ingesters=1, messages=1800, per_message=3,
        extra=["--no-share"], backlog=1600,
    )  # fmt: skip
    assert c.sent == 5400
    assert (c.stored, c.lost, c.doubled, c.wrong) == (5400, 0, 0, 0), c
