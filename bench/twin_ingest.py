"""Telemetry throughput: MQTT → rules → database, warning latency, and the HTTP batch.

    python bench/twin_ingest.py [--db sqlite|postgresql|both] [--seconds 60] [--rate 12000]

MQTT: one publisher process sends QoS 1 messages of ``--per-message`` readings (a gateway's batch)
at ``--rate`` readings/s for ``--seconds`` to a private broker (``--broker rabbitmq``, the default:
RabbitMQ's MQTT plugin, ingesters on its durable queue over AMQP; or ``mosquitto``);
``cityloop twin ingest-mqtt`` stores them. Each second one extra message carries a red low-pressure
reading for a fresh sensor, so warning latency = warning stored_at − publish time. HTTP:
``cityloop serve`` takes batches of ``--http-batch`` readings from two client threads.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import _twin_common as common

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _count(url: str) -> int:
    from sqlalchemy import func, select

    from cityloop.core.db import session_scope
    from cityloop.twin.models import Reading

    with session_scope(url, write=False) as s:
        return int(s.scalar(select(func.count()).select_from(Reading)) or 0)


def mqtt_run(url: str, args: argparse.Namespace) -> dict[str, float]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    codes = [f"S{i:05d}" for i in range(args.sensors)]
    alarms = [f"ALARM{i:04d}" for i in range(int(args.seconds) + 5)]
    common.sensors(url, codes + alarms)
    broker = common.broker(args.broker)
    ingesters = [
        common.cityloop(
            "twin",
            "ingest-mqtt",
            "--broker",
            broker.url,
            "--client-id",
            f"bench-{i}",
            "--batch",
            "10000",
            *(["--no-share"] if args.no_share else []),
            *(["--receive-maximum", str(args.receive_maximum)] if args.receive_maximum else []),
            url=url,
            log=f"{args.log_dir}/ingester-{i}.log" if args.log_dir else None,
        )
        for i in range(args.ingesters)
    ]
    if args.broker == "rabbitmq":
        from cityloop.twin.ingest.amqp import setup

        setup(broker.url)  # the queue exists before the first publish
        _wait_consumers(broker.url, args.ingesters)  # measure the steady state, not their start-up
    else:
        time.sleep(4)  # let the ingesters subscribe (Mosquitto keeps nothing for a share group before)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=mqtt.MQTTv311)
    pub.max_inflight_messages_set(2000)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", int(broker.device_url.rsplit(":", 1)[1]))
    pub.loop_start()
    per_second = int(args.rate / args.per_message)
    sent, alarm_sent = 0, {}
    seq = [0] * len(codes)
    started = time.monotonic()
    last = None
    for second in range(int(args.seconds)):
        tick = started + second
        for m in range(per_second):
            k = (second * per_second + m) % len(codes)
            # Readings 1 s apart moving by 0.01 m: plausible, below the 5 m/min rate rule (0.1 m steps
            # opened an orange rate warning on all 500 sensors in the first seconds: a warning storm).
            batch = [
                {"ts": (T0 + timedelta(seconds=seq[k] + i)).isoformat(), "value": 40.0 + (i % 7) * 0.01}
                for i in range(args.per_message)
            ]
            seq[k] += args.per_message
            last = pub.publish(f"cityloop/telemetry/{codes[k]}", json.dumps(batch), qos=1)
            sent += args.per_message
        alarm = alarms[second]
        alarm_sent[alarm] = time.time()
        pub.publish(
            f"cityloop/telemetry/{alarm}",
            json.dumps({"ts": datetime.now(UTC).isoformat(), "value": 5.0}),
            qos=1,
        )
        pause = tick + 1 - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    publish_s = time.monotonic() - started
    if last is not None:
        last.wait_for_publish(120)
    target = sent + len(alarm_sent)
    drain_deadline = time.monotonic() + 300
    while _count(url) < target and time.monotonic() < drain_deadline:
        time.sleep(0.5)
    stored_s = time.monotonic() - started
    stored = _count(url)
    ingest_cpu = sum(common.cpu_seconds(p.pid) for p in ingesters)
    latencies = _latencies(url, alarm_sent)
    by_second = _latencies(url, alarm_sent, ordered=False)
    worst = sorted(range(len(by_second)), key=lambda i: -by_second[i])[:3]
    pub.disconnect()
    pub.loop_stop()
    for p in ingesters:
        p.terminate()
        p.wait(timeout=30)
    broker.close()
    return {
        "published_readings": sent,
        "publish_rate": sent / publish_s,
        "stored_readings": stored - len(alarm_sent),
        "end_to_end_rate": stored / stored_s,
        "lost": target - stored,
        "latency_p50_s": statistics.median(latencies) if latencies else float("nan"),
        "latency_p99_s": statistics.quantiles(latencies, n=100)[98] if len(latencies) > 2 else float("nan"),
        "warnings": len(latencies),
        "latency_max_s": max(latencies) if latencies else float("nan"),
        "worst": ", ".join(f"second {i}: {by_second[i]:.2f} s" for i in worst),
        "ingest_cpu_s": ingest_cpu,
    }


def _wait_consumers(url: str, count: int, timeout: float = 120.0) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if channel.queue_declare("cityloop.telemetry", passive=True).method.consumer_count >= count:
                return
            time.sleep(0.2)
        raise RuntimeError("the ingesters did not start consuming")
    finally:
        connection.close()


def _latencies(url: str, sent: dict[str, float], *, ordered: bool = True) -> list[float]:
    """Warning stored_at − publish time per alarm; sorted, or in the order the alarms were sent."""
    from sqlalchemy import select

    from cityloop.core.db import session_scope
    from cityloop.twin.models import Sensor, TwinWarning

    with session_scope(url, write=False) as s:
        rows = s.execute(
            select(Sensor.code, TwinWarning.stored_at).join(TwinWarning, TwinWarning.sensor_id == Sensor.id)
        )
        found = {code: stored.timestamp() - sent[code] for code, stored in rows if code in sent}
    if ordered:
        return sorted(found.values())
    return [found[code] for code in sorted(found)]


def http_run(url: str, args: argparse.Namespace) -> dict[str, float]:
    import httpx

    from cityloop.core.audit import Actor
    from cityloop.core.db import session_scope
    from cityloop.org import service as org

    codes = [f"H{i:05d}" for i in range(args.sensors)]
    common.sensors(url, codes)
    with session_scope(url) as s:
        user = org.create_user(
            s, actor=Actor("bench"), username="bench-gw", password="bench-password", role="operator",
            unit=org.find_unit(s, ref="util-water"),
        )  # fmt: skip
        token = org.create_token(s, actor=Actor("bench"), user=user, name="bench")
    port = common.free_port()
    server = common.cityloop("serve", "--port", str(port), url=url)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    bodies = []
    for b in range(args.http_batches):
        bodies.append(
            json.dumps([
                {"sensor": codes[(b * args.http_batch + i) % len(codes)],
                 "ts": (T0 + timedelta(seconds=b * args.http_batch + i)).isoformat(), "value": 41.5}
                for i in range(args.http_batch)
            ]).encode()
        )  # fmt: skip
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    stored = [0]
    lock = threading.Lock()

    def worker(part: list[bytes]) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
            for body in part:
                r = http.post("/api/v1/telemetry", content=body)
                r.raise_for_status()
                with lock:
                    stored[0] += r.json()["stored"]
                    answer = {k: v for k, v in r.json().items() if k != "warnings"}
                    if answer["stored"] != answer["received"]:
                        print("  batch not fully stored:", answer)

    cpu0 = common.cpu_seconds(server.pid)
    # the first batch alone: it primes 500 sensors' rule state (and, values being constant, opens
    # their flat warnings later on); the rest is the steady state
    with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
        first_started = time.monotonic()
        r = http.post("/api/v1/telemetry", content=bodies[0])
        r.raise_for_status()
        stored[0] += r.json()["stored"]
    first_s, first_cpu = time.monotonic() - first_started, common.cpu_seconds(server.pid) - cpu0
    bodies = bodies[1:]
    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(bodies[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started + first_s
    cpu = common.cpu_seconds(server.pid) - cpu0
    print(f"  first batch {first_s:.2f} s wall, {first_cpu:.2f} s server CPU", flush=True)
    server.terminate()
    server.wait(timeout=30)
    return {
        "http_readings": stored[0], "http_rate": stored[0] / elapsed, "http_seconds": elapsed,
        "http_cpu_s": cpu, "http_cpu_rate": stored[0] / cpu if cpu > 0 else float("nan"),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="both", choices=["sqlite", "postgresql", "both"])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=12000, help="readings/s offered")
    ap.add_argument("--per-message", type=int, default=100)
    ap.add_argument("--sensors", type=int, default=500)
    ap.add_argument("--ingesters", type=int, default=1)
    ap.add_argument("--broker", default="rabbitmq", choices=["rabbitmq", "mosquitto"])
    ap.add_argument("--http-batch", type=int, default=10000)
    ap.add_argument("--http-batches", type=int, default=40)
    ap.add_argument("--log-dir", default=None, help="keep the ingesters' logs here")
    ap.add_argument("--no-share", action="store_true", help="plain subscription (one ingester)")
    ap.add_argument("--receive-maximum", type=int, default=None, help="ingester's MQTT receive maximum")
    ap.add_argument("--only", choices=["mqtt", "http"], default=None, help="run one of the two parts")
    args = ap.parse_args()
    for dialect in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        name = "cityloop_bench_twin_ingest"
        url = common.fresh_database(dialect, name)
        common.operator_unit(url)
        try:
            if args.only != "http":
                _print_mqtt(dialect, args, mqtt_run(url, args))
            if args.only != "mqtt":
                h = http_run(url, args)
                print(
                    f"[{dialect}] HTTP batch {args.http_batch} × {args.http_batches}, 2 clients: "
                    f"{h['http_readings']} stored in {h['http_seconds']:.2f} s = "
                    f"{h['http_rate']:.0f} readings/s; "
                    f"server CPU {h['http_cpu_s']:.1f} s = {h['http_cpu_rate']:.0f} readings per CPU-second",
                    flush=True,
                )
        finally:
            common.drop_database(dialect, name)


def _print_mqtt(dialect: str, args: argparse.Namespace, m: dict[str, float]) -> None:
    offered = f"{args.seconds:.0f} s offered {args.rate:.0f}/s in messages of {args.per_message}"
    print(
        f"[{dialect}] MQTT {offered}: published {m['published_readings']} "
        f"({m['publish_rate']:.0f}/s), "
        f"stored {m['stored_readings']}, end-to-end {m['end_to_end_rate']:.0f} readings/s, "
        f"lost {m['lost']}; warning latency p50 {m['latency_p50_s']:.3f} s "
        f"p99 {m['latency_p99_s']:.3f} s max {m['latency_max_s']:.3f} s over {m['warnings']} warnings "
        f"(worst: {m['worst']}); "
        f"ingester CPU {m['ingest_cpu_s']:.1f} s = "
        f"{m['stored_readings'] / m['ingest_cpu_s']:.0f} readings per CPU-second",
        flush=True,
    )


if __name__ == "__main__":
    main()
