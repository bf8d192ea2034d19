# Sourced by .ci/run: install (Debian's package) and start a local PostgreSQL for the tests of the
# KPI engine's PostgreSQL source, and export CANARY_TEST_POSTGRES_DSN for them. Idempotent: a
# second run finds the package, the running cluster, the role and the database and changes nothing.

_pg_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
_pg_admin() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    _pg_root apt-get update -qq
    _pg_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if [ -z "$(pg_lsclusters -h)" ]; then
    _pg_root pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -n 1)" main >/dev/null
fi
read -r _pg_version _pg_cluster _pg_port _pg_status _ < <(pg_lsclusters -h | head -n 1)
if [ "$_pg_status" != "online" ]; then
    _pg_root pg_ctlcluster "$_pg_version" "$_pg_cluster" start
fi
_pg_sql() { _pg_admin psql -p "$_pg_port" -v ON_ERROR_STOP=1 -qtAc "$1"; }
if [ "$(_pg_sql "SELECT 1 FROM pg_roles WHERE rolname = 'canary'")" != "1" ]; then
    _pg_sql "CREATE ROLE canary LOGIN PASSWORD 'canary'"
fi
if [ "$(_pg_sql "SELECT 1 FROM pg_database WHERE datname = 'canary_test'")" != "1" ]; then
    _pg_sql "CREATE DATABASE canary_test OWNER canary"
fi
export CANARY_TEST_POSTGRES_DSN="postgresql://canary:canary@127.0.0.1:${_pg_port}/canary_test"
