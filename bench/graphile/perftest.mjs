// graphile-worker's burn-down, measured as its perfTest measures it: N no-op jobs added in one
// `add_jobs` call, then P `runOnce` processes of C concurrency each drain them; the start-up and
// shut-down time of P processes on an empty queue is measured first and subtracted ("perfTest
// formula"). Prints one JSON line.
// Usage: DATABASE_URL=... node perftest.mjs [jobs=20000] [processes=2] [concurrency=24]
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { Logger, runMigrations } from "graphile-worker";

const [jobs, processes, concurrency] = [20000, 2, 24].map((d, i) => Number(process.argv[2 + i] ?? d));
const url = process.env.DATABASE_URL;
const here = fileURLToPath(new URL(".", import.meta.url));

function drain() {
  const started = performance.now();
  const children = Array.from({ length: processes }, () =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [here + "worker.mjs", String(concurrency)], {
        stdio: ["ignore", "ignore", "inherit"],
        env: process.env,
      });
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`worker exited ${code}`))));
    }),
  );
  return Promise.all(children).then(() => performance.now() - started);
}

await runMigrations({ connectionString: url, logger: new Logger(() => () => {}) });
const client = new pg.Client({ connectionString: url });
await client.connect();
const startup = await drain();
await client.query(
  `select graphile_worker.add_jobs(array(
     select json_populate_record(null::graphile_worker.job_spec,
              json_build_object('identifier', 'noop', 'payload', json_build_object('i', i)))
     from generate_series(1, $1) i))`,
  [jobs],
);
const elapsed = await drain();
const left = Number((await client.query("select count(*) as n from graphile_worker.jobs")).rows[0].n);
await client.end();
const seconds = (elapsed - startup) / 1000;
console.log(JSON.stringify({
  peer: "graphile-worker",
  what: "burn_down",
  jobs,
  processes,
  concurrency,
  left,
  startup_ms: Math.round(startup),
  elapsed_ms: Math.round(elapsed),
  jobs_per_second: seconds > 0 ? jobs / seconds : null,
  jobs_per_second_with_startup: jobs / (elapsed / 1000),
}));
if (left !== 0) process.exit(1);
