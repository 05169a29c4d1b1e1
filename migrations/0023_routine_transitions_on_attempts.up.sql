-- The routine transitions of a run are carried by its own rows instead of event rows (issue 18):
-- the scheduler's admission (runs.admitted_at, copied to the new attempts.admitted_at by the
-- claim), the start (attempts.started_at, number, worker_id) and the end its worker reported
-- through the batched end (finished_at, outcome, exit_code, and the new attempts.message). The
-- admission, the claim and the batched end each wrote one run_events row per run, two WAL
-- records with its index entry, about a quarter of the per-run writes of a burn-down; the timeline
-- (run_events/list.sql) reads them back from the runs and attempts, in the same shape as before.
--
-- `admitted_at` is the admission this attempt was claimed from, when the scheduler made it (a
-- priority-flow run); null for a legacy-flow run, whose admission on insert or on a move to the
-- legacy flow is still an event row, and for attempts from before this migration.
alter table attempts add column admitted_at timestamptz;
--
-- `message` is the end's message as the worker reported it. It is null for an attempt that has
-- not ended, and for one whose end is an event row: ended by runs/finish.sql (a retry, a
-- streaming run: its message carries the retry time or the restart), rescued (`lost`) or handed
-- back. So an end is either an event row or a message here, never both.
alter table attempts add column message text;

-- Every `started` row is the attempt row's copy (the claim wrote both in one statement); the
-- timeline now reads it from the attempt, so the copies go.
delete from run_events where kind = 'started';
