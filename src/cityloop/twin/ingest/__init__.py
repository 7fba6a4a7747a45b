"""Telemetry from a message broker into the twin: ``cityloop twin ingest-mqtt``.

The interface is small: :func:`open_source` turns a broker URL into a :class:`Source`
(``amqp://…`` — RabbitMQ's durable queue fed by its MQTT plugin, the default; ``mqtt://…`` — a
plain MQTT subscription), and :class:`Ingester` runs a source into the database, acknowledging
each message only after its readings (or its dead letter) are committed.
"""

from __future__ import annotations

from cityloop.twin.ingest.loop import Delivery, Ingester, Source, SourceLost, Stats, run_until_signalled

__all__ = ["Delivery", "Ingester", "Source", "SourceLost", "Stats", "open_source", "run_until_signalled"]


def open_source(
    url: str,
    *,
    client_id: str,
    queue: str,
    shared: bool = True,
    receive_maximum: int = 1000,
    prefetch: int = 2000,
    mqtt_version: str = "5",
) -> Source:
    """The source for a broker URL; raises ValueError for a URL it cannot use."""
    if url.startswith(("amqp://", "amqps://")):
        from cityloop.twin.ingest.amqp import AmqpSource

        return AmqpSource(url, queue=queue, prefetch=prefetch)
    from cityloop.twin.ingest.mqtt import MqttSource

    return MqttSource(
        url, client_id=client_id, shared=shared, receive_maximum=receive_maximum, version=mqtt_version
    )
