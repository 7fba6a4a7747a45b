"""Which broker keeps every reading? Sent / stored / lost / doubled per broker and scenario.

    python bench/telemetry_durability.py [--brokers rabbitmq,mosquitto,nats] [--messages 2500]
        [--per-message 4] [--db sqlite|postgresql] [--quiet 30] [--log-dir DIR]

Each candidate is started by this script on its own ports and folder (tests/twin/brokers.py):

- ``rabbitmq``: Debian's RabbitMQ 3.10 with its MQTT plugin; devices publish MQTT 3.1.1 QoS 1 to it,
  ``cityloop twin ingest-mqtt --broker amqp://…`` consumes the durable quorum queue;
- ``mosquitto``: Debian's Mosquitto 2.0.11 with the "nothing lost" configuration (persistence, no
  queue/in-flight limits, autosave every second); ingesters subscribe over MQTT v5 with a persistent
  session (one ingester: plain subscription; two: the shared subscription);
- ``mosquitto-defaults``: the same with Debian's shipped configuration (persistence on, default
  limits), as the machine's own Mosquitto runs;
- ``nats``: nats-server 2.9 with JetStream and its MQTT gateway (MQTT 3.1.1 only, no shared
  subscriptions: two ingesters each receive every message).

Scenarios (a fresh database each): ``kill-1`` one ingester, SIGKILL mid-stream, kept down until a
backlog of 1,500 messages is queued, restarted, then SIGTERM in the middle of the drain and
restarted; ``kill-2`` the same with two ingesters (SIGKILL the first, SIGTERM the second);
``broker-crash`` half the messages queued for a killed ingester, the broker SIGKILLed and restarted,
the rest sent after; ``broker-stop`` the same with a clean broker stop. A reading is *sent* once
the broker acknowledged its message; the run waits until all are stored or nothing new arrived for
``--quiet`` seconds. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import _twin_common as common  # noqa: E402
from tests.twin import brokers, durability  # noqa: E402

OPTIONS = {
    "rabbitmq": {1: [], 2: []},
    "mosquitto": {1: ["--no-share"], 2: []},
    "mosquitto-defaults": {1: ["--no-share"], 2: []},
    "nats": {1: ["--no-share", "--mqtt-version", "3.1.1"], 2: ["--no-share", "--mqtt-version", "3.1.1"]},
}
MAKERS = {
    "rabbitmq": brokers.Rabbit,
    "mosquitto": brokers.Mosquitto,
    "mosquitto-defaults": brokers.MosquittoDefaults,
    "nats": brokers.Nats,
}
SCENARIOS = ["kill-1", "kill-2", "broker-crash", "broker-stop"]


def run_one(name: str, scenario: str, args: argparse.Namespace) -> tuple[durability.Count, float]:
    db = f"cityloop_bench_durability_{name}_{scenario.replace('-', '_')}"
    url = common.fresh_database(args.db, db)
    common.operator_unit(url)
    durability.add_sensors(url)
    broker = MAKERS[name]()
    log_dir = Path(args.log_dir) / f"{name}-{scenario}" if args.log_dir else None
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        broker.start()
        if scenario.startswith("kill-"):
            n = int(scenario[-1])
            result = durability.kill_restart(
                url, broker.device_url, broker.url, ingesters=n, messages=args.messages,
                per_message=args.per_message, extra=OPTIONS[name][n], quiet_s=args.quiet, log_dir=log_dir,
                rate=args.rate,
            )  # fmt: skip
        else:
            result = durability.broker_restart(
                url, broker, messages=args.messages, per_message=args.per_message,
                hard=scenario == "broker-crash", quiet_s=args.quiet, extra=OPTIONS[name][1], log_dir=log_dir,
            )  # fmt: skip
    finally:
        broker.close()
        common.drop_database(args.db, db)
    return result, time.monotonic() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", default="rabbitmq,mosquitto,nats")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--messages", type=int, default=2500)
    ap.add_argument("--per-message", type=int, default=4)
    ap.add_argument("--rate", type=float, default=None, help="messages/s sent (default: flat out)")
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgresql"])
    ap.add_argument("--quiet", type=float, default=30.0, help="give up after this long without progress")
    ap.add_argument("--log-dir", default=None)
    args = ap.parse_args()
    if args.log_dir is None:
        args.log_dir = tempfile.mkdtemp(prefix="cityloop-durability-")
    print(f"{args.messages} messages × {args.per_message} readings, QoS 1, {args.db}; logs {args.log_dir}")
    print("| broker | scenario | sent | stored | lost | doubled | wrong value | dead letters (probes) | s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.brokers.split(","):
        for scenario in args.scenarios.split(","):
            try:
                c, seconds = run_one(name, scenario, args)
            except Exception as exc:  # a broker that cannot run a scenario is a finding, not a crash
                print(f"| {name} | {scenario} | failed: {type(exc).__name__}: {exc} |||||||", flush=True)
                continue
            print(
                f"| {name} | {scenario} | {c.sent} | {c.stored} | {c.lost} | {c.doubled} | {c.wrong} | "
                f"{c.dead_letters} | {seconds:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
