#!/usr/bin/env bash
# Make sure the scale-out services the tests use are up: PostgreSQL on 127.0.0.1:5432 (trust auth, database
# `test`) and Redis on 127.0.0.1:6379. Starts or installs them when they are not; never fails the run for
# them: tests that need a service skip, saying why, when it cannot be reached.
set -u

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }

if ! command -v pg_isready >/dev/null || ! command -v redis-server >/dev/null; then
  as_root apt-get update -qq >/dev/null 2>&1
  command -v pg_isready >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1
  command -v redis-server >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null 2>&1
fi

if ! pg_up; then
  as_root service postgresql start >/dev/null 2>&1 || as_root pg_ctlcluster 15 main start >/dev/null 2>&1 || true
  for _ in $(seq 1 20); do pg_up && break; sleep 0.5; done
fi
if pg_up; then
  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" >/dev/null 2>&1 || true
  echo "services: postgresql up"
else
  echo "services: postgresql NOT reachable; its tests will skip"
fi

if ! redis_up; then
  (redis-server --port 6379 --bind 127.0.0.1 --daemonize yes >/dev/null 2>&1) || as_root service redis-server start >/dev/null 2>&1 || true
  for _ in $(seq 1 20); do redis_up && break; sleep 0.5; done
fi
redis_up && echo "services: redis up" || echo "services: redis NOT reachable; its tests will skip"
exit 0
