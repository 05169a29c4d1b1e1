-- Forgets fire records of fire times more than $2 seconds before $1 (now, nullable: the database's
-- clock), at most $3 of them, oldest first; returns how many. A fire time that old is far behind
-- its schedule's `after_at`, so it can never be decided again. Row locks: the rows deleted
-- (history nobody updates).
with old as (
    select job_id, fire_at from schedule_fires
    where fire_at < coalesce($1::timestamptz, now()) - make_interval(secs => $2)
    order by fire_at
    limit $3
), gone as (
    delete from schedule_fires f using old where f.job_id = old.job_id and f.fire_at = old.fire_at
    returning 1
)
select count(*)::bigint from gone
