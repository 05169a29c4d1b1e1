-- A run's attempts in order: worker, times, outcome (final state, `lost` or `handed_back`), exit code.
-- $1 run_id. No row locks.
select id, number, worker_id, started_at, finished_at, outcome, exit_code
from attempts
where run_id = $1
order by id
