#!/usr/bin/env bash
# Makes sure a MariaDB answers on 127.0.0.1:3306 for root with an empty password and has a `test`
# database (the test default): starts it if it is installed but stopped, installs it first if missing.
# Used by CI and by developers.
set -euo pipefail

# `mysqladmin ping` succeeds even when access is denied, so "alive" and "usable" are checked apart.
alive() { mysqladmin --protocol=tcp -h127.0.0.1 -P3306 ping >/dev/null 2>&1; }
usable() { mysql --protocol=tcp -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' test >/dev/null 2>&1; }

if usable; then echo "mariadb: already running"; exit 0; fi

if ! alive; then
  if [ ! -x /usr/sbin/mariadbd ]; then
    echo "mariadb: not installed, installing mariadb-server (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
  fi
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  if ! alive; then
    echo "mariadb: starting"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  fi
  for _ in $(seq 1 60); do
    if alive; then break; fi
    sleep 1
  done
fi

# A fresh Debian install lets root in only through the unix socket and has no `test` database.
if ! usable; then
  echo "mariadb: allowing root over TCP with an empty password (test machines only) and creating database test"
  mysql -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(''); CREATE DATABASE IF NOT EXISTS test; FLUSH PRIVILEGES;" || true
fi
usable || { echo "mariadb: does not accept root on 127.0.0.1:3306; see README (Storage)" >&2; exit 1; }
echo "mariadb: ready"
