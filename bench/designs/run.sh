#!/usr/bin/env bash
# What each queue design costs PostgreSQL per run (designs.py), on a throw-away private cluster
# with `berth bench`'s settings (PostgreSQL defaults, fsync on). Builds berth in release unless
# BERTH names a binary, migrates a fresh database with `berth migrate`, runs designs.py, stops the
# cluster. Needs psycopg 3: pip install "psycopg[binary]".
#
#   bench/designs/run.sh [rounds, default 3] [runs, default 20000] [batch, default 1000] [designs]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"
port="${DESIGNS_PORT:-55434}"
python3 -c "import psycopg" 2>/dev/null || { echo "run.sh: needs psycopg 3: pip install \"psycopg[binary]\"" >&2; exit 2; }
if [ -z "${BERTH:-}" ]; then
    (cd "$root" && cargo build --release --locked -q --bin berth)
fi
berth="${BERTH:-$root/target/release/berth}"

dir="$(mktemp -d /tmp/berth-designs.XXXXXX)"
as=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    as=(runuser -u postgres --)
fi
"${as[@]}" "$bin/initdb" -D "$dir/pg" -U bench --auth=trust -E UTF8 --locale=C >/dev/null
"${as[@]}" "$bin/pg_ctl" -D "$dir/pg" -o "-p $port -c listen_addresses=127.0.0.1 -c max_connections=200 -c unix_socket_directories=$dir" -l "$dir/log" -w start >/dev/null
trap '"${as[@]}" "$bin/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null; rm -rf "$dir"' EXIT
url="postgres://bench@127.0.0.1:$port/postgres"
DATABASE_URL="$url" "$berth" migrate >/dev/null
PATH="$bin:$PATH" DATABASE_URL="$url" python3 "$here/designs.py" "$@"
