-- One heartbeat for a worker and all its runs. Answers with what the worker must stop: its running
-- runs whose cancellation was requested, and those of its in-flight attempts ($3) that are no
-- longer current (the leader rescued the run while this worker was silent). No row at all when the
-- worker was marked stopped. $1 worker_id, $2 now (nullable), $3 in-flight attempt ids bigint[].
-- Row locks: the worker row.
with beat as (
    update workers set heartbeat_at = coalesce($2::timestamptz, now())
    where id = $1 and stopped_at is null
    returning id
)
select beat.id, r.id as stop_run, null::bigint as stale_attempt
from beat
left join runs r on r.worker_id = beat.id and r.worker_id is not null and r.state = 'running' and r.cancel_requested
union all
select beat.id, null, a.attempt_id
from beat
cross join unnest($3::bigint[]) as a (attempt_id)
where not exists (
    select 1 from runs r
    where r.worker_id = $1 and r.worker_id is not null and r.state = 'running' and r.attempt_id = a.attempt_id
)
