#!/usr/bin/env python3
"""What each queue design costs the database per run: berth's statements as they are beside the
redesigns issue 18 names (docs/benchmarks.md, "Session 17: what a redesign buys").

Each design drains a queue of no-op runs in batches (a claim, then the batch's end), from one
connection, every statement its own transaction (fsync on), with no berth process: what is timed
is PostgreSQL's work and one round trip per statement. Designs, in the order of each round:

  current    berth's legacy flow: sql/runs/claim_batch.sql, then sql/runs/finish_batch.sql
  narrow     a narrow queue table for the hot states: the claim takes its row (narrow_claim.sql),
             the end deletes it and writes the run's row once with the whole attempt (narrow_end.sql)
  graphile   graphile-worker's shape: the narrow claim, the end a delete; no history at all
  priority   berth's priority flow: sql/admission/admit.sql, then the two statements of `current`
  placement  the leader places: place.sql writes queued -> running, the worker reads (pickup.sql),
             then sql/runs/finish_batch.sql

`priority` and `placement` pick each batch with a plain read of the oldest queued runs, a stand-in
for the admission snapshot (which both would read alike). Needs psycopg 3 (`pip install
"psycopg[binary]"`) and a migrated, throw-away berth database; bench/designs/run.sh makes one.

    DATABASE_URL=postgres://... python3 bench/designs/designs.py [rounds] [runs] [batch] [designs]
"""
import os, statistics, subprocess, sys, time

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
SQL = os.path.join(HERE, "..", "..", "sql")
DESIGNS = ["current", "narrow", "graphile", "priority", "placement"]
BIG = 10**12


def text(*path):
    with open(os.path.join(*path)) as f:
        return f.read()


CLAIM = text(SQL, "runs", "claim_batch.sql")
FINISH = text(SQL, "runs", "finish_batch.sql")
ADMIT = text(SQL, "admission", "admit.sql")
NARROW_CLAIM = text(HERE, "narrow_claim.sql")
NARROW_END = text(HERE, "narrow_end.sql")
GRAPHILE_END = text(HERE, "graphile_end.sql")
PLACE = text(HERE, "place.sql")
PICKUP = text(HERE, "pickup.sql")
OLDEST_QUEUED = "select id from runs where state = 'queued' order by enqueued_at, id limit $1"


def fill(url, runs, queued):
    subprocess.run(["psql", "-qX", "-v", "ON_ERROR_STOP=1", "-v", f"runs={runs}", "-v", f"queued={str(queued).lower()}",
                    "-f", os.path.join(HERE, "fill.sql"), url], check=True, capture_output=True)


def drain(url, design, runs, batch):
    """Drains the queue; returns (µs a run for the claim side, for the end side, WAL bytes a run)."""
    fill(url, runs, design in ("priority", "placement"))
    with psycopg.connect(url, autocommit=True) as conn:
        cur = psycopg.RawCursor(conn)
        wal_before = cur.execute("select pg_current_wal_lsn()::text").fetchone()[0]
        claim_s = end_s = 0.0
        done = 0
        while True:
            t = time.perf_counter()
            if design in ("priority", "placement"):
                epoch = cur.execute("select epoch from leader where id = 1").fetchone()[0]
                ids = [r[0] for r in cur.execute(OLDEST_QUEUED, (batch,)).fetchall()]
                k = len(ids)
                if ids and design == "priority":
                    ones = list(range(1, k + 1))
                    cur.execute(ADMIT, (ids, None, 0, 0, epoch, ["default"] * k, ones, ones, [0] * k, [0] * k, True)).fetchall()
                elif ids:
                    cur.execute(PLACE, (ids, epoch, ["default"], 1)).fetchall()
            if design == "placement":
                rows = cur.execute(PICKUP, (1, [])).fetchall()
                token = 1
            elif design in ("current", "priority"):
                rows = cur.execute(CLAIM, (1, ["default"], BIG, BIG, BIG, BIG, batch, None, 0, None)).fetchall()
                token = 2
            else:
                rows = cur.execute(NARROW_CLAIM, (1, ["default"], batch)).fetchall()
                token = 1
            claim_s += time.perf_counter() - t
            if not rows:
                break
            ids = [r[0] for r in rows]
            tokens = [r[token] for r in rows]
            k = len(ids)
            done += k
            t = time.perf_counter()
            if design == "narrow":
                cur.execute(NARROW_END, (ids, tokens)).fetchall()
            elif design == "graphile":
                cur.execute(GRAPHILE_END, (ids, tokens))
            else:
                cur.execute(FINISH, (ids, tokens, ["succeeded"] * k, [0] * k, [None] * k, [""] * k, None)).fetchall()
            end_s += time.perf_counter() - t
        wal = cur.execute("select pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)", (wal_before,)).fetchone()[0]
    if done != runs:
        sys.exit(f"designs.py: {design} drained {done} of {runs} runs")
    return claim_s * 1e6 / runs, end_s * 1e6 / runs, float(wal) / runs


def main():
    url = os.environ.get("DATABASE_URL") or sys.exit("designs.py: set DATABASE_URL to a throw-away, migrated berth database")
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    designs = sys.argv[4].split(",") if len(sys.argv) > 4 else DESIGNS
    totals = {d: [] for d in designs}
    for r in range(1, rounds + 1):
        for d in designs:
            claim, end, wal = drain(url, d, runs, batch)
            totals[d].append(claim + end)
            print(f"round {r} {d:9} claim side {claim:6.1f} µs/run  end {end:6.1f} µs/run  "
                  f"total {claim + end:6.1f} µs/run ({1e6 / (claim + end):7.0f} runs/s)  WAL {wal:5.0f} B/run", flush=True)
    print(f"\nmedians over {rounds} rounds, {runs} runs, batches of {batch}:")
    base = statistics.median(totals["current"]) if "current" in totals else None
    for d in designs:
        m = statistics.median(totals[d])
        ratio = f"  {base / m:4.2f}x current's runs/s" if base else ""
        print(f"  {d:9} {m:6.1f} µs/run ({1e6 / m:7.0f} runs/s){ratio}")


if __name__ == "__main__":
    main()
