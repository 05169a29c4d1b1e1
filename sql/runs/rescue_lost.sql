-- Rescues the runs of dead workers: a running run whose worker stopped, or whose heartbeat is older
-- than the lease, ends its attempt as `lost` and goes back to the queue at its place (admitted for
-- the legacy flow). A lost attempt is the infrastructure's fault: it does not use up the job's own
-- attempts (retry decisions count attempt - lost_attempts), but after $2 lost attempts the run fails. The old worker's later writes are refused by
-- the fencing token (attempt_id is cleared).
-- $1 lease seconds, $2 most lost attempts, $3 now (nullable).
-- Row locks: FOR UPDATE SKIP LOCKED on the rescued runs. Called inside a fenced leader transaction.
with lost as materialized (
    select r.id
    from runs r
    join workers w on w.id = r.worker_id
    where r.state = 'running' and r.worker_id is not null  -- matches the partial index runs_running_worker
      and (w.stopped_at is not null
           -- The lease counts from the server's start at the earliest: while Postgres was down
           -- nobody could heartbeat, so a restart must not make every live worker look dead.
           or greatest(w.heartbeat_at, pg_postmaster_start_time())
              < coalesce($3::timestamptz, now()) - make_interval(secs => $1))
    for update of r skip locked
), moved as (
    update runs r
    set state = case when r.lost_attempts + 1 >= $2 then 'failed'
                     when r.flow = 'legacy' then 'admitted'
                     else 'queued' end,
        finished_at = case when r.lost_attempts + 1 >= $2 then coalesce($3::timestamptz, now()) end,
        admitted_at = case when r.flow = 'legacy' then coalesce($3::timestamptz, now()) end,
        message = case when r.lost_attempts + 1 >= $2
                       then 'its worker died ' || (r.lost_attempts + 1) || ' times while running it'
                       else r.message end,
        lost_attempts = r.lost_attempts + 1,
        attempt_id = null,
        started_at = null,
        head_since = null
    from lost
    where r.id = lost.id
    returning r.id, r.state, r.worker_id, r.lost_attempts
), attempt as (
    update attempts a
    set finished_at = coalesce($3::timestamptz, now()), outcome = 'lost'
    from moved
    where a.run_id = moved.id and a.finished_at is null
)
insert into run_events (run_id, at, kind, actor, message, details)
select id, coalesce($3::timestamptz, now()),
       case when state = 'failed' then 'failed' else 'requeued' end, 'scheduler',
       'worker ' || worker_id || ' stopped heartbeating: attempt lost',
       jsonb_build_object('worker_id', worker_id, 'lost_attempts', lost_attempts)
from moved
returning run_id
