-- Every worker with its capacity, use (its running runs) and liveness.
-- $1 lease seconds, $2 now (nullable). No row locks.
select u.*,
       (u.stopped_at is null
        and u.heartbeat_at > coalesce($2::timestamptz, now()) - make_interval(secs => $1)) as live
from worker_use u
order by u.id
