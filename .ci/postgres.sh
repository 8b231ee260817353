#!/usr/bin/env bash
# Installs and starts a local PostgreSQL with the test role and database; safe to run twice.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq postgresql >/dev/null
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | grep -q "^$version main"; then
  $SUDO pg_createcluster "$version" main
fi
if ! pg_lsclusters -h | grep -q "^$version main .* online"; then
  $SUDO pg_ctlcluster "$version" main start
fi
as_postgres() { $SUDO runuser -u postgres -- "$@"; }
for _ in $(seq 1 30); do
  as_postgres pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
if ! as_postgres psql -tAc "SELECT 1 FROM pg_roles WHERE rolname='leadbot'" | grep -q 1; then
  as_postgres psql -qc "CREATE USER leadbot PASSWORD 'leadbot' CREATEDB"
fi
for db in leadbot_test leadbot_bench; do
  if ! as_postgres psql -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
    as_postgres createdb -O leadbot "$db"
  fi
done
echo "PostgreSQL $version ready on 127.0.0.1:5432 (databases leadbot_test, leadbot_bench)"
