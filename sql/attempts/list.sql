-- A run's attempts in order: worker, times, outcome (final state, `lost` or `handed_back`), exit code.
-- The running attempt has no row yet: attempts_seen reads it from its run (migration 0024).
-- $1 run_id. No row locks.
select id, number, worker_id, started_at, finished_at, outcome, exit_code
from attempts_seen
where run_id = $1
order by id
