-- Seconds until the earliest future fire time of an unpaused schedule (null when there is none),
-- for the leader to wake at it. $1 now (nullable: the database's clock). Served by
-- schedules_due (next_fire_at where not paused): one index probe. No row locks.
select extract(epoch from min(next_fire_at) - coalesce($1::timestamptz, now()))::float8
from schedules
where not paused and next_fire_at > coalesce($1::timestamptz, now())
