-- A run's timeline in order: its event rows, and the routine transitions its attempts carry
-- (migration 0023): each attempt's start, and the end its worker reported through the batched end
-- (an attempt with a message). Those two have no event id. Ordered by time; at the same instant
-- rows keep their insertion order and come first, then each attempt's start and end.
-- $1 run_id. No row locks.
select id, at, kind, actor, message, details
from (
    select id, at, kind, actor, message, details, 0 as source, id as seq, 0 as phase
    from run_events
    where run_id = $1
    union all
    select null, started_at, 'started', 'worker', 'attempt ' || number || ' started on worker ' || worker_id,
           jsonb_build_object('attempt', number, 'attempt_id', id, 'worker_id', worker_id), 1, id, 0
    from attempts
    where run_id = $1
    union all
    select null, finished_at, outcome, 'worker', message, jsonb_build_object('exit_code', exit_code, 'attempt_id', id),
           1, id, 1
    from attempts
    where run_id = $1 and message is not null and finished_at is not null
) timeline
order by at, source, seq, phase
