-- The routine transitions of an attempt are carried by its own row instead of event rows
-- (issue 18): its start (attempts.started_at, number, worker_id) and the end its worker reported
-- through the batched end (finished_at, outcome, exit_code, and the new `message`). The claim and
-- the batched end each wrote one run_events row per run, two WAL records with its index entry,
-- a quarter of the per-run writes of a burn-down; the timeline (run_events/list.sql) reads them
-- back from the attempts, in the same shape as before.
--
-- `message` is the end's message as the worker reported it. It is null for an attempt that has
-- not ended, and for one whose end is an event row: ended by runs/finish.sql (a retry, a
-- streaming run: its message carries the retry time or the restart), rescued (`lost`) or handed
-- back. So an end is either an event row or a message here, never both.
alter table attempts add column message text;

-- Every `started` row is the attempt row's copy (the claim wrote both in one statement); the
-- timeline now reads it from the attempt, so the copies go.
delete from run_events where kind = 'started';
