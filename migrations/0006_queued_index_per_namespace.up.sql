-- Queued runs are only ever read per (namespace, priority): admission (admission/queued.sql) and the
-- queue view (runs/queue.sql) both go through runs_queued_namespace. The global runs_queued index
-- was worse than unused: with one namespace holding most of the queue, the planner read other
-- namespaces' heads through it and filtered the big namespace out row by row (measured: 200 ms per
-- admission cycle with 1,000,000 runs queued in one namespace, instead of well under 1 ms).
drop index runs_queued;
