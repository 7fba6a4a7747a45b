"""The default telemetry broker: RabbitMQ. Devices publish MQTT (QoS 1) to RabbitMQ's MQTT plugin;
ingesters consume one durable queue over AMQP with manual acknowledgements, as competing consumers.

The plugin routes a publish on ``cityloop/telemetry/{sensor}`` to the ``amq.topic`` exchange with
the routing key ``cityloop.telemetry.{sensor}`` ("/" becomes "."), persistent for QoS 1, and sends
the device its PUBACK only once the queue holds the message. The queue is a *quorum* queue (written
to disk and fsynced before it confirms; it survives a broker restart) bound with
``cityloop.telemetry.#`` so a topic with too many levels still reaches the queue and is
dead-lettered instead of vanishing unrouted. The ingester declares queue and binding on every
connection, so they exist as soon as one ingester has started once — before that, RabbitMQ drops
what devices publish (nothing is bound): start an ingester (or ``--setup-only``) before the devices.

Measured against Debian's Mosquitto and NATS in ``bench/telemetry_durability.py``; the figures and
the reasons are in docs/decisions/0018-telemetry-broker.md.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any
from urllib.parse import urlparse

from cityloop.twin.ingest.loop import Delivery, SourceLost, payload_size

log = logging.getLogger("cityloop.twin.amqp")
EXCHANGE = "amq.topic"
BINDING = "cityloop.telemetry.#"
KEY_PREFIX = "cityloop.telemetry."
TOPIC_PREFIX = "cityloop/telemetry/"
DEFAULT_QUEUE = "cityloop.telemetry"


def check_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("amqp", "amqps") or not parsed.hostname:
        raise ValueError(f"broker must look like amqp://USER:PASSWORD@HOST:PORT/VHOST, not {url!r}")
    return url


def topic_of(routing_key: str) -> str:
    """The MQTT topic back from the routing key. Everything after the prefix is the sensor code (a
    topic with extra levels reads as one code with dots: an unknown sensor, dead-lettered)."""
    if routing_key.startswith(KEY_PREFIX):
        return TOPIC_PREFIX + routing_key[len(KEY_PREFIX) :]
    return routing_key.replace(".", "/")


class AmqpSource:
    def __init__(self, url: str, *, queue: str = DEFAULT_QUEUE, prefetch: int = 2000) -> None:
        self.url = check_url(url)
        self.queue = queue
        self.prefetch = prefetch
        parsed = urlparse(url)
        self.description = f"amqp://{parsed.hostname}:{parsed.port or 5672} queue {queue}"
        self.connection: Any = None
        self.channel: Any = None
        self.pending: list[Delivery] = []
        self.pending_readings = 0

    def connect(self) -> None:
        import pika
        import pika.exceptions

        self.close()
        params = pika.URLParameters(self.url)
        params.heartbeat = 30
        params.blocked_connection_timeout = 60
        params.connection_attempts = 1
        try:
            self.connection = pika.BlockingConnection(params)
            self.channel = self.connection.channel()
            declare(self.channel, self.queue)
            self.channel.basic_qos(prefetch_count=self.prefetch)
            self.channel.basic_consume(self.queue, self._on_message, auto_ack=False)
        except (pika.exceptions.AMQPError, OSError) as exc:  # refused, unreachable, closed by the broker
            self.close()
            raise SourceLost(f"{type(exc).__name__}: {exc}") from exc

    def _on_message(self, _ch: Any, method: Any, props: Any, body: bytes) -> None:
        headers = props.headers or {}
        count = int(headers.get("x-delivery-count") or (1 if method.redelivered else 0))
        self.pending.append(Delivery(topic_of(method.routing_key), body, method.delivery_tag, count))
        self.pending_readings += payload_size(body)

    def fetch(self, max_readings: int, wait_s: float) -> list[Delivery]:
        """Wait up to 0.2 s for a first delivery, then up to ``wait_s`` more to fill the batch."""
        first_by = time.monotonic() + 0.2
        full_by: float | None = None
        try:
            while self.pending_readings < max_readings:
                clock = time.monotonic()
                if self.pending and full_by is None:
                    full_by = clock + wait_s
                remaining = (full_by if full_by is not None else first_by) - clock
                if remaining <= 0:
                    break
                self.connection.process_data_events(time_limit=remaining)
        except Exception as exc:  # pika raises AMQP and socket errors: the connection is gone
            self.close()
            raise SourceLost(f"{type(exc).__name__}: {exc}") from exc
        batch, self.pending, self.pending_readings = self.pending, [], 0
        return batch

    def ack(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        try:
            # Deliveries come in tag order and every fetched one is in this batch: one ack covers all.
            self.channel.basic_ack(delivery_tag=max(d.tag for d in deliveries), multiple=True)
        except Exception as exc:  # the broker redelivers them; the key absorbs the repeat
            self.close()
            raise SourceLost(f"{type(exc).__name__}: {exc}") from exc

    def sleep(self, seconds: float) -> None:
        try:
            self.connection.sleep(seconds)  # keeps heartbeats going while the database is away
        except Exception as exc:
            self.close()
            raise SourceLost(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        connection, self.connection, self.channel = self.connection, None, None
        self.pending, self.pending_readings = [], 0
        if connection is not None:
            with contextlib.suppress(Exception):  # already closed or broken: nothing to release
                connection.close()


def declare(channel: Any, queue: str) -> None:
    """The durable quorum queue and its binding (idempotent: same arguments every time)."""
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_bind(queue, EXCHANGE, routing_key=BINDING)


def setup(url: str, queue: str = DEFAULT_QUEUE) -> None:
    """Declare the queue and binding once (``cityloop twin ingest-mqtt --setup-only``)."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(check_url(url)))
    try:
        declare(connection.channel(), queue)
    finally:
        connection.close()
