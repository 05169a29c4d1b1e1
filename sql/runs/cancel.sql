-- Cancels a run that has not started (queued, waiting or admitted) with a reason and its event.
-- $1 run_id, $2 reason, $3 actor, $4 event kind, $5 now (nullable). Row locks: the run row.
with run as (
    update runs set state = 'cancelled', finished_at = coalesce($5::timestamptz, now()), message = $2,
                    head_since = null
    where id = $1 and state in ('queued', 'waiting', 'admitted')
    returning id, finished_at
)
insert into run_events (run_id, at, kind, actor, message)
select id, finished_at, $4, $3, $2 from run
returning run_id
