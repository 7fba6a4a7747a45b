"""Private brokers for the telemetry tests and bench/telemetry_durability.py, each started here on
its own ports and folder so that restarting or killing one touches nothing else on the machine:

- :class:`Rabbit` — a RabbitMQ node (Debian's rabbitmq-server) with the MQTT plugin: devices publish
  MQTT to ``mqtt_port``, ingesters consume the durable queue over AMQP (the production set-up);
- :class:`Mosquitto` — Debian's Mosquitto with the "nothing lost" configuration (persistence, no
  queue limits);
- :class:`Nats` — nats-server with JetStream and its MQTT gateway.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

RABBIT_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
MOSQUITTO = Path("/usr/sbin/mosquitto")
NATS = Path("/usr/sbin/nats-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:.0f} s")


class _Process:
    """A broker in its own process group (so a hard kill reaches every process it started)."""

    name = "broker"
    listen_port = 0
    start_timeout = 15.0

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=f"cityloop-{self.name}-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def start(self) -> None:
        cmd, env = self.command()
        log = open(self.folder / "console.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_port(self.listen_port, self.start_timeout, self.name, self.proc)

    def stop(self, *, hard: bool = False) -> None:
        """SIGTERM (the broker shuts down cleanly) or SIGKILL (a crash) to the whole group."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL if hard else signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # the group's other members (Erlang's helpers) go with it
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        self.proc = None

    def restart(self, *, hard: bool = False) -> None:
        self.stop(hard=hard)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class Rabbit(_Process):
    """A RabbitMQ node named ``cityloop-<pid>-<n>@localhost`` with the MQTT plugin."""

    name = "rabbitmq"
    start_timeout = 90.0  # an Erlang node on a loaded 2-core machine

    def __init__(self) -> None:
        super().__init__()
        self.amqp_port = free_port()
        self.mqtt_port = free_port()
        self.dist_port = free_port()
        self.listen_port = self.mqtt_port  # the MQTT listener opens last: then the node is ready
        self.node = f"cityloop-{os.getpid()}-{self.amqp_port}@localhost"
        (self.folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.amqp_port}\n"
            f"mqtt.listeners.tcp.local = 127.0.0.1:{self.mqtt_port}\n"
            "mqtt.allow_anonymous = true\n"
            "loopback_users = none\n"
            "log.console = false\n"
            "log.file.level = warning\n"
        )
        (self.folder / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
        (self.folder / "rabbitmq-env.conf").write_text("")

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = {
            # our own env file, so /etc/rabbitmq/rabbitmq-env.conf (the machine's node name) is not read
            "RABBITMQ_CONF_ENV_FILE": str(self.folder / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "HOME": str(self.folder),  # the Erlang cookie goes here
        }
        return [str(RABBIT_SERVER)], env

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/%2F"

    @property
    def device_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt_port}"

    def start(self) -> None:
        super().start()
        # The MQTT port can open a moment before the AMQP listener takes queue declarations.
        wait_port(self.amqp_port, self.start_timeout, "rabbitmq amqp", self.proc)


class Mosquitto(_Process):
    """Persistence on, no queue or in-flight limits: Mosquitto's defaults drop QoS 1 messages for a
    slow or absent persistent subscriber (MEASURED.md)."""

    name = "mosquitto"

    limits = "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\nautosave_interval 1\n"

    def __init__(self) -> None:
        super().__init__()
        self.listen_port = free_port()
        (self.folder / "mosquitto.conf").write_text(
            f"listener {self.listen_port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.folder}/\n"
            + self.limits
            + f"log_dest file {self.folder}/mosquitto.log\n"
            + ("user root\n" if os.geteuid() == 0 else "")
            # Run as root, Mosquitto drops to user "mosquitto", which cannot write the folder.
        )

    def command(self) -> tuple[list[str], dict[str, str]]:
        return [str(MOSQUITTO), "-c", str(self.folder / "mosquitto.conf")], {}

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.listen_port}"

    device_url = url


class MosquittoDefaults(Mosquitto):
    """Debian's /etc/mosquitto/mosquitto.conf as shipped: persistence on, Mosquitto's default limits
    (``max_queued_messages 1000``: a persistent session's queue beyond that is dropped)."""

    limits = ""


class Nats(_Process):
    """nats-server with JetStream (file store) and the MQTT gateway."""

    name = "nats"

    def __init__(self) -> None:
        super().__init__()
        self.client_port = free_port()
        self.listen_port = free_port()
        (self.folder / "nats.conf").write_text(
            f'server_name: "cityloop-{self.client_port}"\n'
            f"listen: 127.0.0.1:{self.client_port}\n"
            f'jetstream {{ store_dir: "{self.folder}/js" }}\n'
            f"mqtt {{ listen: 127.0.0.1:{self.listen_port} }}\n"
        )

    def command(self) -> tuple[list[str], dict[str, str]]:
        return [str(NATS), "-c", str(self.folder / "nats.conf")], {}

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.listen_port}"

    device_url = url
