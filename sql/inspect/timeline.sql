-- Operator query: one run's timeline, as the API shows it (sql/run_events/list.sql: event rows,
-- and the starts and reported ends its attempts carry). psql -v run=42 -f sql/inspect/timeline.sql
select at, kind, actor, message, details
from (
    select at, kind, actor, message, details, 0 as source, id as seq, 0 as phase from run_events where run_id = :run
    union all
    select started_at, 'started', 'worker', 'attempt ' || number || ' started on worker ' || worker_id,
           jsonb_build_object('attempt', number, 'attempt_id', id, 'worker_id', worker_id), 1, id, 0
    from attempts where run_id = :run
    union all
    select finished_at, outcome, 'worker', message, jsonb_build_object('exit_code', exit_code, 'attempt_id', id), 1, id, 1
    from attempts where run_id = :run and message is not null and finished_at is not null
) timeline
order by at, source, seq, phase;
