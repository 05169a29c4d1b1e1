-- A run's log chunks in order, every attempt. $1 run_id. No row locks.
select attempt_id, stream, data
from run_logs
where run_id = $1
order by id
