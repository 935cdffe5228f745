#!/usr/bin/env bash
# Makes sure the cluster services answer on 127.0.0.1: Redis on 6379 and NATS with JetStream on 4222
# (the test defaults, see test/helpers/cluster.ts). Starts whichever is installed but stopped,
# installs it from Debian first if missing. Used by CI and by developers; safe to run twice.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 30); do
    if port_open "$1"; then return 0; fi
    sleep 1
  done
  return 1
}
apt_install() {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- Redis ---
if port_open 6379; then
  echo "redis: already running"
else
  if ! command -v redis-server >/dev/null; then
    echo "redis: not installed, installing redis-server (apt)"
    apt_install redis-server
  fi
  echo "redis: starting"
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no >/dev/null
  wait_port 6379 || { echo "redis: did not start on 127.0.0.1:6379" >&2; exit 1; }
  echo "redis: ready"
fi

# --- NATS (JetStream on: the KV buckets need it) ---
if port_open 4222; then
  echo "nats: already running"
else
  if ! command -v nats-server >/dev/null; then
    echo "nats: not installed, installing nats-server (apt)"
    apt_install nats-server
  fi
  mkdir -p /var/lib/nats-server
  echo "nats: starting with JetStream"
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_port 4222 || { echo "nats: did not start on 127.0.0.1:4222" >&2; exit 1; }
  echo "nats: ready"
fi
