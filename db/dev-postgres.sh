#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 cluster for development and tests, and prints how to use it.
#
#   eval "$(bash db/dev-postgres.sh)"        # start; exports KARTEMARKETO_TEST_POSTGRES and KARTEMARKETO_PGDIR
#   bash db/dev-postgres.sh stop "$KARTEMARKETO_PGDIR"   # stop it and delete its files
#
# The cluster lives under a fresh `mktemp -d` folder, listens on 127.0.0.1 only, on a free port, with trust
# auth for the superuser `postgres` (it is throwaway: never point anything real at it). As root, initdb and
# pg_ctl run as the `postgres` user through runuser, because initdb refuses to run as root.
# Only the export lines go to stdout; progress goes to stderr, so `eval "$(...)"` works.
set -euo pipefail

PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
DB_NAME="${KARTEMARKETO_PGDATABASE:-kartemarketo}"

as_pg() {
    if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = "stop" ]; then
    dir="${2:?usage: dev-postgres.sh stop <dir>}"
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf -- "$dir"
    echo "stopped and removed $dir" >&2
    exit 0
fi

if [ ! -x "$PGBIN/initdb" ]; then
    echo "PostgreSQL 15 binaries not found in $PGBIN (Debian: apt-get install -y postgresql-15)" >&2
    exit 1
fi

dir="$(mktemp -d /tmp/km-pg.XXXXXX)"
chmod 755 "$dir"
if [ "$(id -u)" = "0" ]; then chown postgres:postgres "$dir"; fi

as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }

# A free loopback port: pick a random one nobody answers on, and retry if the server still cannot bind it.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
started=""
for _ in $(seq 1 20); do
    port=$(( 20000 + RANDOM % 20000 ))
    if port_in_use "$port"; then continue; fi
    if as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c max_connections=400" start >/dev/null 2>&1; then
        started=1
        break
    fi
done
if [ -z "$started" ]; then
    echo "could not start PostgreSQL; log:" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
fi

psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE DATABASE \"$DB_NAME\"" >&2

echo "PostgreSQL 15 running on 127.0.0.1:$port (data in $dir); stop with: bash db/dev-postgres.sh stop $dir" >&2
echo "export KARTEMARKETO_TEST_POSTGRES='Host=127.0.0.1;Port=$port;Database=$DB_NAME;Username=postgres;Password=postgres'"
echo "export KARTEMARKETO_PGDIR='$dir'"
