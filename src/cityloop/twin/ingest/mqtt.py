"""Plain MQTT subscription (``--broker mqtt://HOST:PORT``): for small deployments on a broker that
keeps a persistent session's queue whole.

MQTT v5, QoS 1, ``clean_start=False`` with a session expiry (the broker keeps what arrives while
the ingester is away), manual acknowledgement after commit, optionally a shared subscription
``$share/cityloop/cityloop/telemetry/+`` for several ingesters. Measured on Debian's Mosquitto
2.0.11 this loses readings after an ingester restart (decision 0018); the default broker is the
RabbitMQ queue (:mod:`cityloop.twin.ingest.amqp`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any
from urllib.parse import urlparse

from cityloop.twin.ingest.loop import Delivery, SourceLost, payload_size

log = logging.getLogger("cityloop.twin.mqtt")
TOPIC = "cityloop/telemetry/+"
SHARE_GROUP = "cityloop"


def parse_broker(url: str) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"mqtt://{url}")
    if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
        raise ValueError(f"broker must look like mqtt://HOST:PORT, not {url!r}")
    return parsed.hostname, parsed.port or 1883


class MqttSource:
    def __init__(
        self,
        broker: str,
        *,
        client_id: str,
        shared: bool = True,
        receive_maximum: int = 1000,
        session_expiry_s: int = 7 * 86400,
        version: str = "5",
    ) -> None:
        if version not in ("5", "3.1.1"):
            raise ValueError(f"MQTT version must be 5 or 3.1.1, not {version!r}")
        self.v5 = version == "5"
        self.host, self.port = parse_broker(broker)
        self.client_id = client_id
        self.topic = f"$share/{SHARE_GROUP}/{TOPIC}" if shared else TOPIC
        self.receive_maximum = receive_maximum
        self.session_expiry_s = session_expiry_s
        self.description = f"mqtt://{self.host}:{self.port} {self.topic} as {client_id}"
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.connected = threading.Event()
        self.closing = False
        self.client: Any = None

    def _client(self) -> Any:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.subscribeoptions import SubscribeOptions

        if self.v5:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        else:  # 3.1.1: a persistent session is clean_session=False (NATS's gateway speaks only this)
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                protocol=mqtt.MQTTv311,
                clean_session=False,
            )
        client.manual_ack_set(True)
        client.reconnect_delay_set(min_delay=1, max_delay=5)

        def on_connect(c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
            if reason.is_failure:
                log.warning("broker refused the connection: %s", reason)
                return
            self.connected.set()
            if self.v5:
                c.subscribe(self.topic, options=SubscribeOptions(qos=1))
            else:
                c.subscribe(self.topic, qos=1)

        def on_disconnect(_c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
            self.connected.clear()
            if not self.closing:
                log.warning("disconnected (%s); paho reconnects", reason)

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            self.inbox.put(msg)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        return client

    def connect(self) -> None:
        if self.client is not None:
            return  # paho reconnects by itself; the persistent session brings back what is unacked
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.client = self._client()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.receive_maximum
        try:
            if self.v5:
                self.client.connect_async(
                    self.host, self.port, keepalive=30, clean_start=False, properties=props
                )
            else:
                self.client.connect_async(self.host, self.port, keepalive=30)
        except OSError as exc:
            self.client = None
            raise SourceLost(str(exc)) from exc
        self.client.loop_start()

    def fetch(self, max_readings: int, wait_s: float) -> list[Delivery]:
        try:
            first = self.inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        size = payload_size(first.payload)
        deadline = time.monotonic() + wait_s
        while size < max_readings:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                msg = self.inbox.get(timeout=remaining)
            except queue.Empty:
                break
            batch.append(msg)
            size += payload_size(msg.payload)
        return [Delivery(m.topic, m.payload, (m.mid, m.qos), 1 if m.dup else 0) for m in batch]

    def ack(self, deliveries: list[Delivery]) -> None:
        for d in deliveries:
            mid, qos = d.tag
            self.client.ack(mid, qos)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)  # paho's network thread answers keep-alives meanwhile

    def close(self) -> None:
        self.closing = True
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None
