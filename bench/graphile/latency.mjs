// graphile-worker's idle enqueue-to-start latency: one worker (concurrency 1), jobs added one at a
// time every `interval` ms; the delay is the job's `locked_at - created_at`, both from the
// database's clock, as berth's latency scenario measures `started_at - enqueued_at`. Prints one
// JSON line. Usage: DATABASE_URL=... node latency.mjs [probes=200] [interval_ms=20]
import { Logger, run, makeWorkerUtils } from "graphile-worker";

const quiet = new Logger(() => () => {});

const probes = Number(process.argv[2] ?? 200);
const interval = Number(process.argv[3] ?? 20);
const url = process.env.DATABASE_URL;
const waiting = new Map();
const runner = await run({
  connectionString: url,
  concurrency: 1,
  noHandleSignals: true,
  pollInterval: 2000,
  logger: quiet,
  crontab: "",
  taskList: {
    probe: async (payload, helpers) => {
      // Microseconds, from the database (a JS Date keeps milliseconds only).
      const { rows } = await helpers.query(
        "select extract(epoch from (locked_at - created_at)) * 1000 as ms from graphile_worker._private_jobs where id = $1",
        [helpers.job.id],
      );
      waiting.get(payload.i)?.(Number(rows[0].ms));
    },
  },
});
const utils = await makeWorkerUtils({ connectionString: url, logger: quiet });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
await sleep(1500); // the worker is listening before the first probe
const delays = [];
for (let i = 0; i < probes + 10; i++) {
  const done = new Promise((resolve) => waiting.set(i, resolve));
  await utils.addJob("probe", { i });
  const delay = await done;
  if (i >= 10) delays.push(delay); // the first 10 warm up
  await sleep(interval);
}
await utils.release();
await runner.stop();
delays.sort((a, b) => a - b);
const at = (q) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))];
console.log(JSON.stringify({
  peer: "graphile-worker",
  what: "enqueue_to_start",
  runs: delays.length,
  p50_ms: at(0.5),
  p95_ms: at(0.95),
  p99_ms: at(0.99),
  max_ms: delays[delays.length - 1],
}));
