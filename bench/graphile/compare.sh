#!/usr/bin/env bash
# berth beside graphile-worker on one private PostgreSQL 15 (default settings, fsync on), in
# interleaved rounds, then the ratios (issue 18; docs/benchmarks.md, "berth and graphile-worker").
#
#   bench/graphile/compare.sh [rounds, default 3] [jobs, default 20000]
#
# Installs graphile-worker from npm as pinned in bench/graphile/package-lock.json (`npm ci`),
# builds berth-bench in release, starts a throw-away cluster as an unprivileged user, and per
# round, each on a fresh database: berth's throughput (legacy and priority flow, --batch-size
# 1000, then the priority flow at the default batch size), graphile-worker's perfTest burn-down
# (2 processes x 24 concurrency, local queue, batched completion), berth's idle latency and
# graphile-worker's. Prints every figure as a JSON line on stdout, the ratios at the end.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rounds="${1:-3}"
jobs="${2:-20000}"
bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"
port="${COMPARE_PORT:-55433}"

command -v node >/dev/null || { echo "compare.sh: node (and npm) are needed: apt-get install nodejs npm" >&2; exit 2; }
(cd "$here" && npm ci --no-audit --no-fund --silent)
if [ -z "${BERTH_BENCH:-}" ]; then
    (cd "$root" && cargo build --release --locked -q -p berth-bench)
fi
bench="${BERTH_BENCH:-$root/target/release/berth-bench}"   # BERTH_BENCH: an already built binary

dir="$(mktemp -d /tmp/berth-compare.XXXXXX)"
as=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    as=(runuser -u postgres --)
fi
"${as[@]}" "$bin/initdb" -D "$dir/pg" -U bench --auth=trust -E UTF8 --locale=C >/dev/null
"${as[@]}" "$bin/pg_ctl" -D "$dir/pg" -o "-p $port -c listen_addresses=127.0.0.1 -c max_connections=200 -c unix_socket_directories=$dir" -l "$dir/log" -w start >/dev/null
trap '"${as[@]}" "$bin/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null; rm -rf "$dir"' EXIT
psql=("$bin/psql" -h 127.0.0.1 -p "$port" -U bench -d postgres -qAt)
url() { echo "postgres://bench@127.0.0.1:$port/$1"; }
fresh() { "${psql[@]}" -c "drop database if exists $1" -c "create database $1" >/dev/null; url "$1"; }
out="$dir/figures.jsonl"
: > "$out"

for round in $(seq 1 "$rounds"); do
    echo "round $round of $rounds" >&2
    DATABASE_URL="$(fresh berth_tp)" "$bench" --scenario throughput --runs "$jobs" --batch-size 1000 --json |
        sed "s/^{/{\"round\":$round,\"peer\":\"berth\",\"batch_size\":1000,/" >> "$out"
    DATABASE_URL="$(fresh graphile_tp)" node "$here/perftest.mjs" "$jobs" 2 24 |
        sed "s/^{/{\"round\":$round,/" >> "$out"
    DATABASE_URL="$(fresh berth_tp20)" "$bench" --scenario throughput --runs "$jobs" --flows priority --json |
        sed "s/^{/{\"round\":$round,\"peer\":\"berth\",\"batch_size\":20,/" >> "$out"
    DATABASE_URL="$(fresh berth_lat)" "$bench" --scenario latency --json |
        sed "s/^{/{\"round\":$round,\"peer\":\"berth\",/" >> "$out"
    DATABASE_URL="$(fresh graphile_lat)" node "$here/latency.mjs" 200 20 |
        sed "s/^{/{\"round\":$round,/" >> "$out"
done
cat "$out"
python3 "$here/ratios.py" < "$out"
