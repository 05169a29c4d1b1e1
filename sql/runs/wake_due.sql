-- Moves waiting runs whose back-off is over back to the queue at their place (admitted for the
-- legacy flow). $1 now (nullable). Row locks: FOR UPDATE SKIP LOCKED on those runs.
with due as materialized (
    select id from runs
    where state = 'waiting' and not_before is not null and not_before <= coalesce($1::timestamptz, now())
    for update skip locked
), moved as (
    update runs r
    set state = case when r.flow = 'legacy' then 'admitted' else 'queued' end,
        admitted_at = case when r.flow = 'legacy' then coalesce($1::timestamptz, now()) end,
        not_before = null
    from due where r.id = due.id
    returning r.id, r.state
)
insert into run_events (run_id, at, kind, actor, message)
select id, coalesce($1::timestamptz, now()), 'requeued', 'scheduler', 'back-off over: back to the queue at its place'
from moved
returning run_id
