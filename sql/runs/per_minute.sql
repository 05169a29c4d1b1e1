-- Admissions and finishes per minute since $1 (a timestamptz: the start of the first minute shown),
-- for the console's overview. No row locks. Minutes without either are absent (the caller fills them).
-- A run admitted since $1 is admitted or running now (read through `runs_admitted` and
-- `runs_running_worker`), or has finished since (read through `runs_finished`, which also gives the
-- finishes): no statement reads the whole table.
with recent as (
    select admitted_at, null::timestamptz as finished_at
    from runs
    where state = 'admitted' and admitted_at is not null and admitted_at >= $1
    union all
    select admitted_at, null
    from runs
    where state = 'running' and worker_id is not null and admitted_at >= $1
    union all
    select admitted_at, finished_at
    from runs
    where state in ('succeeded', 'failed', 'timed_out', 'cancelled', 'aborted')
      and finished_at is not null and finished_at >= $1
),
events as (
    select date_trunc('minute', admitted_at) as minute, 1 as admitted, 0 as finished
    from recent where admitted_at >= $1
    union all
    select date_trunc('minute', finished_at), 0, 1
    from recent where finished_at is not null
)
select minute, sum(admitted)::bigint as admitted, sum(finished)::bigint as finished
from events
group by minute
order by minute
