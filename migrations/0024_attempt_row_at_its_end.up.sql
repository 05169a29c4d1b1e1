-- An attempt's row is written once, when the attempt ends (issue 18). While it runs, the attempt is
-- carried by its run's own row, which the claim writes anyway: attempt_id (the fencing token, still
-- drawn from attempts_id_seq), attempt (its number), worker_id, started_at, and admitted_at for a
-- priority-flow run. Every statement that ends an attempt (the batched end, runs/finish.sql, the
-- rescue of a lost worker's runs, a hand-back) inserts the row with its end, in the statement that
-- records the end on the run. Before, the claim inserted the row and the end updated it: a heap
-- tuple and two index entries more per run (docs/benchmarks.md, "Session 13": 19.1 → 17.0 WAL
-- records per run, a legacy burn-down 14 % faster).
--
-- The view attempts_seen is what readers use: the ended attempts and the running one.
--
-- Running attempts move from their rows to their runs: the row of an attempt still running now
-- would collide with the one its end inserts. Stop every worker and scheduler of the previous
-- release before running this migration (docs/operations.md, "Upgrades").
delete from attempts a
using runs r
where r.attempt_id = a.id and r.state = 'running' and a.finished_at is null;

create view attempts_seen as
select id, run_id, worker_id, number, started_at, finished_at, outcome, exit_code, admitted_at, message
from attempts
union all
-- The running attempt: its run's row until it ends. A legacy-flow run's admission is an event row
-- (migration 0023), so only a priority-flow run's admitted_at is the attempt's.
select attempt_id, id, worker_id, attempt, started_at, null::timestamptz, null::text, null::integer,
       case when flow = 'priority' then admitted_at end, null::text
from runs
where state = 'running' and attempt_id is not null and worker_id is not null;

-- Rows are no longer updated: pages full again (migration 0009 left room for the end's update).
alter table attempts reset (fillfactor);
