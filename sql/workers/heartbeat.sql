-- One heartbeat for a worker and all its runs; answers with the worker's running runs whose
-- cancellation was requested (the worker kills them). No row at all when the worker was marked
-- stopped. $1 worker_id, $2 now (nullable). Row locks: the worker row.
with beat as (
    update workers set heartbeat_at = coalesce($2::timestamptz, now())
    where id = $1 and stopped_at is null
    returning id
)
select beat.id, r.id as cancel_run
from beat
left join runs r on r.worker_id = beat.id and r.state = 'running' and r.cancel_requested
