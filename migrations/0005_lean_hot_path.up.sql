-- Fewer writes per claimed and finished run (measured: legacy burn-down with 2 workers of 1,000
-- slots, from about 11,000 to about 14,000 runs/s; docs/benchmarks.md).
--
-- 1. Foreign keys from the per-run hot tables are dropped. Each was an extra lookup and a row
--    lock (FOR KEY SHARE, logged) per attempt and per event. Those rows are only written by
--    berth's own statements, in the same statement as the run row they point to. Deleting a run
--    deletes its attempts and events explicitly (there is no cascade from runs to them any more).
alter table attempts drop constraint attempts_run_id_fkey;
alter table attempts drop constraint attempts_worker_id_fkey;
alter table run_events drop constraint run_events_run_id_fkey;
alter table runs drop constraint runs_worker_id_fkey;

-- 2. runs_worker duplicated runs_running_worker (same predicate, shorter key).
drop index runs_worker;

-- 3. Events are only ever read by run: one index, (run_id, id), serves as the primary key.
alter table run_events drop constraint run_events_pkey;
drop index run_events_run;
alter table run_events add constraint run_events_pkey primary key (run_id, id);
