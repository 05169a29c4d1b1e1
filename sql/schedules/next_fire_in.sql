-- The earliest future fire time of an unpaused schedule (no row when there is none), how many
-- seconds until it, and how many schedules are due at that instant, for the leader to wake at it
-- or to prepare its fires ahead of it. $1 now (nullable: the database's clock). Served by
-- schedules_due (next_fire_at where not paused): an index probe, and a range scan of the
-- schedules due at that instant. No row locks.
with earliest as (
    select min(next_fire_at) as at
    from schedules
    where not paused and next_fire_at > coalesce($1::timestamptz, now())
)
select e.at,
       extract(epoch from e.at - coalesce($1::timestamptz, now()))::float8 as seconds,
       (select count(*) from schedules s where not s.paused and s.next_fire_at = e.at)::bigint as due
from earliest e
where e.at is not null
