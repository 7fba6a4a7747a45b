#!/usr/bin/env bash
# Set up the machine's RabbitMQ as cityloop's telemetry broker (docs/operations/telemetry.md):
#   - the MQTT plugin, listening on 127.0.0.1:${CITYLOOP_MQTT_PORT:-1884} (1883 is often Mosquitto's);
#   - the durable quorum queue cityloop.telemetry bound to amq.topic "cityloop.telemetry.#", so that
#     devices' messages are kept from now on even before the first ingester starts.
# Idempotent; run as root. Starts RabbitMQ if it is down.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${CITYLOOP_MQTT_PORT:-1884}"
CONF=/etc/rabbitmq/rabbitmq.conf
BROKER="${CITYLOOP_TELEMETRY_BROKER:-amqp://guest:guest@127.0.0.1:5672/%2F}"

command -v rabbitmq-plugins >/dev/null || { echo "rabbitmq-server is not installed (apt-get install rabbitmq-server)"; exit 1; }
touch "$CONF"
if ! grep -q '^mqtt.listeners.tcp' "$CONF"; then
  echo "mqtt.listeners.tcp.default = 127.0.0.1:${PORT}" >> "$CONF"
  echo "mqtt.allow_anonymous = true" >> "$CONF"
  echo "rabbitmq: MQTT listener on 127.0.0.1:${PORT} added to $CONF"
fi
if ! rabbitmqctl -q status >/dev/null 2>&1; then
  echo "rabbitmq: starting"
  (service rabbitmq-server start || (rabbitmq-server -detached)) >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done
fi
# A running node read its config file when it booted: give the plugin its listener at run time too,
# then enable and start it (no broker restart; after one, the config file says the same).
rabbitmqctl -q eval "application:load(rabbitmq_mqtt), application:set_env(rabbitmq_mqtt, tcp_listeners, [{\"127.0.0.1\", ${PORT}}]), application:set_env(rabbitmq_mqtt, allow_anonymous, true)." >/dev/null
rabbitmq-plugins enable --quiet rabbitmq_mqtt >/dev/null 2>&1 || true
rabbitmqctl -q eval 'application:ensure_all_started(rabbitmq_mqtt).' >/dev/null
for _ in $(seq 1 30); do (echo > "/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null && break; sleep 1; done
(echo > "/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null || { echo "rabbitmq: nothing listens on ${PORT}; see $CONF"; exit 1; }
BIN=.venv/bin/cityloop
[ -x "$BIN" ] || BIN=cityloop
"$BIN" twin ingest-mqtt --broker "$BROKER" --setup-only
echo "rabbitmq: devices publish MQTT to 127.0.0.1:${PORT}; ingesters: cityloop twin ingest-mqtt"
