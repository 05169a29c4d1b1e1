-- A run's events in order. $1 run_id. No row locks.
select id, at, kind, actor, message, details
from run_events
where run_id = $1
order by id
