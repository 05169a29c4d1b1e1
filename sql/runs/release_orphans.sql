-- Hands back the runs the database says a worker runs but the worker does not hold: a claim whose
-- reply never reached it (connection lost after the commit). Only claims older than $3 seconds
-- count, so a claim the worker is still taking in is left alone. Like a drain hand-back, the attempt
-- does not count against the job's attempts; the run goes back to the queue at its place, or, when
-- its cancel was requested, ends `cancelled` (a streaming run `aborted`) instead of running again.
-- $1 worker_id, $2 the worker's in-flight attempt ids bigint[], $3 grace seconds, $4 now (nullable).
-- Row locks: FOR UPDATE SKIP LOCKED on those runs.
with orphan as materialized (
    -- With the attempt as the run records it before the hand-back clears it: its row's start.
    select id, attempt, worker_id, started_at, case when flow = 'priority' then admitted_at end as admitted_at,
           case when not cancel_requested then null when restart is null then 'cancelled' else 'aborted' end as ended
    from runs
    where worker_id = $1 and worker_id is not null and state = 'running'
      and attempt_id <> all($2::bigint[])
      and started_at < coalesce($4::timestamptz, now()) - make_interval(secs => $3)
    for update skip locked
), run as (
    update runs r
    set state = coalesce(orphan.ended, case when r.flow = 'legacy' then 'admitted' else 'queued' end),
        admitted_at = case when r.flow = 'legacy' and orphan.ended is null then coalesce($4::timestamptz, now()) end,
        finished_at = case when orphan.ended is not null then coalesce($4::timestamptz, now()) end,
        message = case when orphan.ended is not null
                       then orphan.ended || '; its worker does not hold this claim (its reply was lost)'
                       else r.message end,
        cancel_requested = false,
        worker_id = null, started_at = null, head_since = null,
        handed_back_attempts = r.handed_back_attempts + 1
    from orphan
    where r.id = orphan.id
    returning r.id, r.attempt_id, r.state
), attempt as (
    insert into attempts (id, run_id, worker_id, number, started_at, admitted_at, finished_at, outcome)
    select run.attempt_id, run.id, orphan.worker_id, orphan.attempt, orphan.started_at, orphan.admitted_at,
           coalesce($4::timestamptz, now()), 'handed_back'
    from run join orphan on orphan.id = run.id
)
insert into run_events (run_id, at, kind, actor, message, details)
select id, coalesce($4::timestamptz, now()),
       case state when 'cancelled' then 'cancelled' when 'aborted' then 'aborted' else 'requeued' end, 'worker',
       'worker ' || $1 || ' does not hold this claim (its reply was lost): '
           || case when state in ('cancelled', 'aborted') then 'its cancel was requested: ' || state
                   else 'back to the queue at its place' end,
       jsonb_build_object('attempt_id', attempt_id, 'state', state)
from run
returning run_id
