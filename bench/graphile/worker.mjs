// One graphile-worker process for the burn-down: runs every job queued, then exits (`runOnce`),
// with the settings of graphile-worker's own perfTest: `concurrency` jobs at once, a local queue
// that fetches jobs in batches, and batched completion.
// Usage: DATABASE_URL=... node worker.mjs <concurrency>
import { Logger, runOnce } from "graphile-worker";

const concurrency = Number(process.argv[2] ?? 24);
await runOnce({
  connectionString: process.env.DATABASE_URL,
  concurrency,
  maxPoolSize: concurrency + 2,
  noHandleSignals: false,
  taskList: { noop: async () => {} },
  logger: new Logger(() => () => {}),
  crontab: "",
  preset: {
    worker: {
      localQueue: { size: 500 },
      completeJobBatchDelay: 0,
      failJobBatchDelay: 0,
    },
  },
});
