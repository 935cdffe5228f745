#!/usr/bin/env bash
# Makes sure a MariaDB answers on 127.0.0.1:3306 for root with an empty password (the test default):
# starts it if it is installed but stopped, installs it first if missing. Used by CI and by developers.
set -euo pipefail

ping_db() { mysqladmin --protocol=tcp -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1; }

if ping_db; then echo "mariadb: already running"; exit 0; fi

if [ ! -x /usr/sbin/mariadbd ]; then
  echo "mariadb: not installed, installing mariadb-server (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
fi

mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
echo "mariadb: starting"
start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
for _ in $(seq 1 60); do
  if mysqladmin ping >/dev/null 2>&1; then break; fi
  sleep 1
done

# A fresh Debian install lets root in only through the unix socket; the tests connect over TCP.
if ! ping_db; then
  mysql -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;" || true
  mysql -uroot -e "CREATE DATABASE IF NOT EXISTS test;" || true
fi
ping_db || { echo "mariadb: does not answer on 127.0.0.1:3306" >&2; exit 1; }
echo "mariadb: ready"
