#!/usr/bin/env bash
# A PostgreSQL server for the tests, on Debian (12): installs it from Debian's packages when it is
# missing, starts the newest installed major version's "main" cluster (Debian's default
# listen_addresses, localhost, includes 127.0.0.1), creates the role tlbench (password tlbench,
# CREATEDB, for the per-test databases, and pg_signal_backend) and the database tlbench it owns, and prints
# the URL for TLBENCH_TEST_POSTGRES on stdout (everything else goes to stderr).
# Idempotent: the packages, cluster, role and database may already be there, the server running.
#   export TLBENCH_TEST_POSTGRES=$(bash .ci/postgres.sh)
# Run as root (CI) or as a user who may sudo.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
  as_postgres() { runuser -u postgres -- "$@"; }
elif command -v sudo >/dev/null; then
  as_root() { sudo "$@"; }
  as_postgres() { sudo -u postgres "$@"; }
else
  log "needs root or sudo"
  exit 1
fi

newest_version() {
  local dir
  for dir in /usr/lib/postgresql/*/bin/postgres; do
    if [ -x "$dir" ]; then basename "$(dirname "$(dirname "$dir")")"; fi
  done | sort -V | tail -n 1
}

version=$(newest_version)
if [ -z "$version" ] || ! command -v pg_ctlcluster >/dev/null; then
  log "installing PostgreSQL from Debian's packages"
  # C.UTF-8 always exists on Debian: the cluster the package creates takes its locale from here.
  as_root env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 LC_ALL=C.UTF-8 apt-get update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    apt-get install -y -q --no-install-recommends postgresql >&2
  version=$(newest_version)
  if [ -z "$version" ]; then
    log "the postgresql package installed no server under /usr/lib/postgresql"
    exit 1
  fi
else
  log "PostgreSQL $version already installed"
fi

if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {found = 1} END {exit !found}'; then
  log "creating cluster $version/main"
  as_root env LANG=C.UTF-8 LC_ALL=C.UTF-8 pg_createcluster "$version" main >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')

if pg_ctlcluster "$version" main status >/dev/null 2>&1; then
  log "cluster $version/main already running on port $port"
else
  log "starting cluster $version/main on port $port"
  as_root pg_ctlcluster "$version" main start >&2
fi
for _ in $(seq 30); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p "$port" >&2 || {
  log "no server on 127.0.0.1:$port; see /var/log/postgresql/postgresql-$version-main.log"
  exit 1
}

psql_admin() { as_postgres psql -p "$port" -X -q -v ON_ERROR_STOP=1 "$@"; }
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'tlbench'")" != 1 ]; then
  log "creating role tlbench"
  psql_admin -c "CREATE ROLE tlbench LOGIN CREATEDB PASSWORD 'tlbench'"
else
  psql_admin -c "ALTER ROLE tlbench LOGIN CREATEDB PASSWORD 'tlbench'"
fi
# pg_signal_backend: DROP DATABASE ... WITH (FORCE) in the test fixture also ends an autovacuum worker
# that happens to be in the test's database, which a role without it may not do.
psql_admin -c "GRANT pg_signal_backend TO tlbench"
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'tlbench'")" != 1 ]; then
  log "creating database tlbench"
  psql_admin -c "CREATE DATABASE tlbench OWNER tlbench"
fi

url="postgresql://tlbench:tlbench@127.0.0.1:$port/tlbench"
# The URL must work over TCP with the password, as the tests will use it.
PGCONNECT_TIMEOUT=5 psql "$url" -X -q -tAc "SELECT 1" >/dev/null
log "ready; export TLBENCH_TEST_POSTGRES=$url"
echo "$url"
