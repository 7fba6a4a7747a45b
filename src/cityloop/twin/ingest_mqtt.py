"""The MQTT subscriber: ``cityloop twin ingest-mqtt --broker mqtt://HOST:PORT``.

Nothing acknowledged is lost, nothing is stored twice:

- MQTT v5, QoS 1, a persistent session (``clean_start=False`` and a session expiry), so the broker
  keeps what arrives while the ingester is down or restarting;
- a shared subscription ``$share/cityloop/cityloop/telemetry/+``: several ingesters (distinct
  client ids) split the load;
- manual acknowledgement: a message is acknowledged only after the transaction holding its
  readings (or its dead letter) has committed; a crash before that makes the broker redeliver it,
  and the (sensor, ts) key stores the redelivered readings once;
- bad input never stops the loop: it is dead-lettered with the reason and acknowledged.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from cityloop.core.audit import Actor
from cityloop.core.db import session_scope
from cityloop.twin.telemetry import Incoming, Ingestor, Rejected, parse_mqtt

log = logging.getLogger("cityloop.twin.mqtt")
TOPIC = "cityloop/telemetry/+"
SHARE_GROUP = "cityloop"


def parse_broker(url: str) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"mqtt://{url}")
    if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
        raise ValueError(f"broker must look like mqtt://HOST:PORT, not {url!r}")
    return parsed.hostname, parsed.port or 1883


@dataclass
class Stats:
    messages: int = 0
    readings: int = 0
    stored: int = 0
    dead: int = 0
    batches: int = 0
    failures: int = 0
    started: float = field(default_factory=time.monotonic)


class MqttIngester:
    def __init__(
        self,
        broker: str,
        *,
        client_id: str,
        db_url: str | None = None,
        batch_readings: int = 5000,
        batch_wait_s: float = 0.05,
        session_expiry_s: int = 7 * 86400,
        receive_maximum: int = 1000,
        shared: bool = True,
    ) -> None:
        self.host, self.port = parse_broker(broker)
        self.client_id = client_id
        self.db_url = db_url
        self.batch_readings = batch_readings
        self.batch_wait_s = batch_wait_s
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum
        # A plain subscription for a single ingester: see docs/decisions/0005-twin.md on Mosquitto 2.0.11.
        self.topic = f"$share/{SHARE_GROUP}/{TOPIC}" if shared else TOPIC
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.ingestor = Ingestor(actor=Actor("ingest-mqtt"))
        self.stats = Stats()
        self.stop = threading.Event()
        self.connected = threading.Event()
        self.client = self._client()

    def _client(self) -> Any:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.subscribeoptions import SubscribeOptions

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        client.manual_ack_set(True)
        client.reconnect_delay_set(min_delay=1, max_delay=5)

        def on_connect(c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
            if reason.is_failure:
                log.warning("broker refused the connection: %s", reason)
                return
            self.connected.set()
            c.subscribe(self.topic, options=SubscribeOptions(qos=1))
            log.info("connected to %s:%s as %s", self.host, self.port, self.client_id)

        def on_disconnect(_c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
            self.connected.clear()
            if not self.stop.is_set():
                log.warning("disconnected (%s); reconnecting", reason)

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            self.inbox.put(msg)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        return client

    def start(self) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.receive_maximum
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()

    def close(self) -> None:
        self.stop.set()
        self.client.disconnect()
        self.client.loop_stop()

    def _collect(self) -> list[Any]:
        """Up to ``batch_readings`` readings' worth of messages, waiting at most ``batch_wait_s``."""
        try:
            first = self.inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch, size = [first], _size(first.payload)
        deadline = time.monotonic() + self.batch_wait_s
        while size < self.batch_readings:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                msg = self.inbox.get(timeout=remaining)
            except queue.Empty:
                break
            batch.append(msg)
            size += _size(msg.payload)
        return batch

    def process(self, batch: list[Any]) -> None:
        """Store one batch in one transaction, then acknowledge its messages; retry until done."""
        items: list[Incoming | Rejected] = []
        for msg in batch:
            items.extend(parse_mqtt(msg.topic, msg.payload))
        while not self.stop.is_set():
            try:
                with session_scope(self.db_url) as session:
                    result = self.ingestor.ingest(session, items, channel="mqtt")
                break
            except Exception:
                # Database down, a concurrent warning insert, …: nothing was committed and nothing
                # is acknowledged; rebuild caches and try the same batch again.
                self.stats.failures += 1
                log.exception("batch of %d messages failed; retrying", len(batch))
                self.ingestor.reset()
                time.sleep(1.0)
        else:
            return  # stopping: the broker redelivers the unacknowledged batch to the next ingester
        for msg in batch:
            self.client.ack(msg.mid, msg.qos)
        self.stats.messages += len(batch)
        self.stats.readings += result.received
        self.stats.stored += result.stored
        self.stats.dead += result.dead_lettered
        self.stats.batches += 1

    def run(self, *, max_seconds: float | None = None, report_every_s: float = 10.0) -> Stats:
        self.start()
        until = time.monotonic() + max_seconds if max_seconds else None
        last_report = time.monotonic()
        try:
            while not self.stop.is_set() and (until is None or time.monotonic() < until):
                batch = self._collect()
                if batch:
                    self.process(batch)
                if time.monotonic() - last_report >= report_every_s:
                    last_report = time.monotonic()
                    log.info(
                        "messages %d readings %d stored %d dead-lettered %d",
                        self.stats.messages, self.stats.readings, self.stats.stored, self.stats.dead,
                    )  # fmt: skip
        finally:
            self.close()
        return self.stats


def _size(payload: bytes) -> int:
    """Cheap estimate of the readings in a payload (one per '"value"'), for batch sizing."""
    return max(1, payload.count(b'"value"'))


def run_until_signalled(ingester: MqttIngester, max_seconds: float | None = None) -> Stats:
    def stop(*_: Any) -> None:
        ingester.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return ingester.run(max_seconds=max_seconds)
