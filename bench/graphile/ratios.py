"""The ratios of bench/graphile/compare.sh's figures (JSON lines on stdin), as medians over rounds."""
import json
import statistics
import sys

rows = [json.loads(line) for line in sys.stdin if line.startswith("{")]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def berth(what, flow, batch=None, field="runs_per_second"):
    return med([r.get(field) for r in rows if r.get("peer") == "berth" and r.get("what") == what
                and r.get("flow") == flow and (batch is None or r.get("batch_size") == batch)])


def graphile(what, field):
    return med([r.get(field) for r in rows if r.get("peer") == "graphile-worker" and r.get("what") == what])


legacy = berth("burn_down", "legacy", 1000)
priority = berth("burn_down", "priority", 1000)
priority20 = berth("burn_down", "priority", 20)
g = graphile("burn_down", "jobs_per_second")
g_all = graphile("burn_down", "jobs_per_second_with_startup")
lat = {flow: berth("enqueue_to_start", flow, field="p50_ms") for flow in ("legacy", "priority")}
lat99 = {flow: berth("enqueue_to_start", flow, field="p99_ms") for flow in ("legacy", "priority")}
g_lat, g_lat99 = graphile("enqueue_to_start", "p50_ms"), graphile("enqueue_to_start", "p99_ms")
rounds = len({r.get("round") for r in rows})
print(f"\nmedians over {rounds} rounds")
print("| figure | berth | graphile-worker | ratio (target) |")
print("|---|---|---|---|")
print(f"| no-op burn-down, jobs/s (legacy flow; graphile: perfTest formula) | {legacy:,.0f} | {g:,.0f} | {legacy / g:.2f}x (>= 1.2) |")
print(f"| the same, graphile start-up included | {legacy:,.0f} | {g_all:,.0f} | {legacy / g_all:.2f}x |")
print(f"| priority flow (admission on), batch 1000, jobs/s | {priority:,.0f} | | {priority / legacy:.2f} of legacy (>= 0.8) |")
print(f"| priority flow, default batch 20, jobs/s | {priority20:,.0f} | | {priority20 / legacy:.2f} of legacy |")
print(f"| idle enqueue -> start p50, ms (legacy / priority) | {lat['legacy']:.2f} / {lat['priority']:.2f} | {g_lat:.2f} | (<= 1 / <= 2) |")
print(f"| idle enqueue -> start p99, ms (legacy / priority) | {lat99['legacy']:.2f} / {lat99['priority']:.2f} | {g_lat99:.2f} | (<= 5) |")
