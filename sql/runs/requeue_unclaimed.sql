-- Startup timeout: an admitted run (priority flow) that no worker claimed within $1 seconds goes
-- back to the queue at its place, so its reservation returns to the pool.
-- $1 startup timeout seconds, $2 now (nullable).
-- Row locks: FOR UPDATE SKIP LOCKED on those runs. Called inside a fenced leader transaction.
with stale as materialized (
    select id from runs
    where state = 'admitted' and admitted_at is not null and flow = 'priority'
      and admitted_at < coalesce($2::timestamptz, now()) - make_interval(secs => $1)
    for update skip locked
), moved as (
    update runs r set state = 'queued', admitted_at = null
    from stale where r.id = stale.id
    returning r.id
)
insert into run_events (run_id, at, kind, actor, message)
select id, coalesce($2::timestamptz, now()), 'requeued', 'scheduler',
       'no worker claimed it within ' || $1 || ' s of admission: back to the queue at its place'
from moved
returning run_id
