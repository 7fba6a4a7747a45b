"""The broker-independent ingest loop: fetch a batch, store it in one transaction, then acknowledge.

A source hands over :class:`Delivery` objects and takes them back for acknowledgement; the loop
guarantees that a delivery is acknowledged only after the transaction holding its readings (or its
dead letter) has committed, so a crash anywhere before that makes the broker deliver it again, and
the (sensor, ts) key stores the redelivered readings once.

Input never stops the loop:

- a payload that does not parse (bad JSON, a number ``float()`` cannot hold, a non-finite value, a
  wrong topic) becomes a dead letter with the reason, in the same transaction as the good readings;
- a message that makes the *transaction* fail while the database is reachable is found by splitting
  the batch in halves until it stands alone; after ``POISON_ATTEMPTS`` failures on its own it is
  dead-lettered with the database's reason;
- a message the broker has delivered ``MAX_DELIVERIES`` times (each time, an ingester died holding
  it) is set aside as a dead letter before it is parsed.

A database that is down is not the message's fault: the loop waits and tries the same batch again,
acknowledging nothing.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import text

from cityloop.core.audit import Actor
from cityloop.core.db import session_scope
from cityloop.twin.telemetry import MAX_PAYLOAD_KEPT, Incoming, Ingestor, Rejected, dead_letter, parse_mqtt

log = logging.getLogger("cityloop.twin.ingest")
POISON_ATTEMPTS = 3  # a lone message failing this often with the database up is dead-lettered
MAX_DELIVERIES = 20  # a message redelivered this often killed every ingester that held it
RETRY_PAUSE_S = 1.0


@dataclass
class Delivery:
    """One broker message: its MQTT topic, payload, the source's handle to acknowledge it, and how
    many times the broker delivered it before (0 when the broker does not say)."""

    topic: str
    payload: bytes
    tag: Any
    redelivered: int = 0


class SourceLost(Exception):
    """The connection to the broker broke: unacknowledged deliveries will come again."""


class Source(Protocol):
    description: str

    def connect(self) -> None:
        """(Re)connect and subscribe; raises :class:`SourceLost` if the broker cannot be reached."""

    def fetch(self, max_readings: int, wait_s: float) -> list[Delivery]:
        """Deliveries worth up to ``max_readings`` readings, waiting at most ``wait_s`` for more."""

    def ack(self, deliveries: list[Delivery]) -> None:
        """Acknowledge (called only after the deliveries' transaction committed)."""

    def sleep(self, seconds: float) -> None:
        """Wait while keeping the connection alive (heartbeats)."""

    def close(self) -> None: ...


@dataclass
class Stats:
    messages: int = 0
    readings: int = 0
    stored: int = 0
    duplicates: int = 0
    dead: int = 0
    batches: int = 0
    failures: int = 0
    reconnects: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        return (
            f"messages {self.messages}, readings {self.readings}, stored {self.stored}, "
            f"duplicates {self.duplicates}, dead-lettered {self.dead}, failed transactions {self.failures}, "
            f"reconnects {self.reconnects}"
        )


class Stopping(Exception):
    """Asked to stop while a batch was not stored: leave it unacknowledged for the next ingester."""


def payload_size(payload: bytes) -> int:
    """Cheap estimate of the readings in a payload (one per '"value"'), for batch sizing."""
    return max(1, payload.count(b'"value"'))


def parse_delivery(d: Delivery) -> list[Incoming | Rejected]:
    """A delivery's readings and rejects; never raises (whatever the parser trips on is a reject)."""
    if d.redelivered >= MAX_DELIVERIES:
        return [Rejected(f"delivered {d.redelivered} times without being stored", _text(d.payload), d.topic)]
    try:
        return parse_mqtt(d.topic, d.payload)
    except Exception as exc:  # the parser's bug must not become the ingester's death
        return [Rejected(f"unparseable: {type(exc).__name__}: {exc}"[:300], _text(d.payload), d.topic)]


def _text(payload: bytes) -> str:
    return payload[:MAX_PAYLOAD_KEPT].decode("utf-8", errors="replace")


class Ingester:
    """Runs a :class:`Source` into the database until :attr:`stop` is set."""

    def __init__(
        self,
        source: Source,
        *,
        db_url: str | None = None,
        batch_readings: int = 5000,
        batch_wait_s: float = 0.05,
        actor: Actor | None = None,
    ) -> None:
        self.source = source
        self.db_url = db_url
        self.batch_readings = batch_readings
        self.batch_wait_s = batch_wait_s
        self.ingestor = Ingestor(actor=actor or Actor("ingest-mqtt"))
        self.stats = Stats()
        self.stopping = False

    def stop(self) -> None:
        self.stopping = True

    def run(self, *, max_seconds: float | None = None, report_every_s: float = 10.0) -> Stats:
        until = time.monotonic() + max_seconds if max_seconds else None
        last_report = time.monotonic()
        connected = False
        try:
            while not self.stopping and (until is None or time.monotonic() < until):
                try:
                    if not connected:
                        self.source.connect()
                        connected = True
                        log.info("consuming %s", self.source.description)
                    batch = self.source.fetch(self.batch_readings, self.batch_wait_s)
                    if batch:
                        self.handle(batch)
                except SourceLost as exc:
                    # Whatever was fetched and not acknowledged comes again from the broker.
                    connected = False
                    self.stats.reconnects += 1
                    log.warning("broker connection lost (%s); reconnecting", exc)
                    time.sleep(RETRY_PAUSE_S)
                except Stopping:
                    break
                if time.monotonic() - last_report >= report_every_s:
                    last_report = time.monotonic()
                    log.info(self.stats.line())
        finally:
            self.source.close()
        return self.stats

    def handle(self, batch: list[Delivery]) -> None:
        """Store one batch, then acknowledge all of it."""
        parsed = [parse_delivery(d) for d in batch]
        self._store(batch, parsed)
        self.source.ack(batch)
        self.stats.messages += len(batch)
        self.stats.batches += 1

    def _store(self, batch: list[Delivery], parsed: list[list[Incoming | Rejected]]) -> None:
        attempts = 0
        while True:
            if self.stopping:
                raise Stopping
            try:
                with session_scope(self.db_url) as session:
                    result = self.ingestor.ingest(session, [i for p in parsed for i in p], channel="mqtt")
            except Exception as exc:  # any failure: nothing committed, nothing acked
                self.stats.failures += 1
                self.ingestor.reset()
                if not self._database_up():
                    log.warning("database unreachable (%s); waiting", type(exc).__name__)
                    self.source.sleep(RETRY_PAUSE_S)
                    continue
                if len(batch) > 1:
                    # Find the message the database refuses: each half in its own transaction.
                    log.warning("batch of %d messages failed (%s); splitting", len(batch), exc)
                    half = len(batch) // 2
                    self._store(batch[:half], parsed[:half])
                    self._store(batch[half:], parsed[half:])
                    return
                attempts += 1
                if attempts < POISON_ATTEMPTS:
                    log.warning("message on %s failed (%s); retrying", batch[0].topic, exc)
                    self.source.sleep(RETRY_PAUSE_S * attempts / 4)
                    continue
                self._dead_letter(batch[0], f"not storable: {type(exc).__name__}: {exc}")
                return
            self.stats.readings += result.received
            self.stats.stored += result.stored
            self.stats.duplicates += result.duplicates
            self.stats.dead += result.dead_lettered
            return

    def _dead_letter(self, d: Delivery, reason: str) -> None:
        log.error("dead-lettering a message on %s: %s", d.topic, reason)
        while True:
            if self.stopping:
                raise Stopping
            try:
                with session_scope(self.db_url) as session:
                    dead_letter(
                        session, channel="mqtt", rejected=[Rejected(reason[:300], _text(d.payload), d.topic)]
                    )
                self.stats.dead += 1
                return
            except Exception:  # the database went away: wait, keep the message
                log.exception("could not write the dead letter; retrying")
                self.source.sleep(RETRY_PAUSE_S)

    def _database_up(self) -> bool:
        try:
            with session_scope(self.db_url, write=False) as session:
                session.execute(text("SELECT 1"))
            return True
        except Exception:  # any failure means "not usable now"
            return False


def run_until_signalled(ingester: Ingester, max_seconds: float | None = None) -> Stats:
    """SIGTERM/SIGINT finish the batch in hand (stored and acknowledged, or left to the broker)."""

    def stop(*_: Any) -> None:
        ingester.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return ingester.run(max_seconds=max_seconds)
