#!/usr/bin/env bash
# PostgreSQL's own queue ceiling on this machine, with the same server settings as `berth bench`'s
# private cluster (PostgreSQL defaults, fsync on, max_connections=200). Starts a throw-away
# cluster as an unprivileged user, runs both cycles, prints jobs/s, stops the cluster.
# Usage: bench/pgbench/run.sh [seconds per run, default 30] [clients, default 8]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"
secs="${1:-30}"
clients="${2:-8}"
port="${PGBENCH_PORT:-55432}"
dir="$(mktemp -d /tmp/berth-pgbench.XXXXXX)"
as=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    as=(runuser -u postgres --)
fi
"${as[@]}" "$bin/initdb" -D "$dir/pg" -U bench --auth=trust -E UTF8 --locale=C >/dev/null
"${as[@]}" "$bin/pg_ctl" -D "$dir/pg" -o "-p $port -c listen_addresses=127.0.0.1 -c max_connections=200 -c unix_socket_directories=$dir" -l "$dir/log" -w start >/dev/null
trap '"${as[@]}" "$bin/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null; rm -rf "$dir"' EXIT
psql=("$bin/psql" -h 127.0.0.1 -p "$port" -U bench -d postgres -qAt)
"${psql[@]}" -c "select version()"
"${psql[@]}" -c "select string_agg(name || '=' || setting, ' ' order by name) from pg_settings where name in ('fsync','synchronous_commit','shared_buffers','max_wal_size','full_page_writes')"
for script in one_per_tx hundred_per_stmt; do
    "${psql[@]}" -f "$here/schema.sql" >/dev/null
    per=1
    [ "$script" = hundred_per_stmt ] && per=100
    tps=$("$bin/pgbench" -h 127.0.0.1 -p "$port" -U bench -n -c "$clients" -j 2 -T "$secs" -f "$here/$script.sql" postgres 2>/dev/null |
        awk '/^tps = / {print $3}')
    echo "$script: clients=$clients seconds=$secs script_runs_per_s=$tps jobs_per_s=$(awk -v t="$tps" -v p="$per" 'BEGIN {printf "%.0f", t * p}')"
done
