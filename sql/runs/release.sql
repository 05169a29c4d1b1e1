-- Hands a running attempt back (graceful worker drain): the run goes back to the queue at its place
-- (enqueued_at is unchanged), or straight back to admitted for the legacy flow. A run whose cancel
-- was requested is not queued again: it ends `cancelled` (a streaming run `aborted`), as its
-- worker would have ended it. Refused unless $2 is still the fencing token.
-- $1 run_id, $2 attempt_id, $3 reason, $4 now (nullable).
-- Row locks: the run row (FOR UPDATE, then update).
with held as materialized (
    -- The attempt as the run records it before the hand-back clears it: its row's start.
    select id, attempt, worker_id, started_at, case when flow = 'priority' then admitted_at end as admitted_at,
           case when not cancel_requested then null when restart is null then 'cancelled' else 'aborted' end as ended
    from runs
    where id = $1 and attempt_id = $2 and state = 'running'
    for update
), run as (
    update runs r
    set state = coalesce(held.ended, case when r.flow = 'legacy' then 'admitted' else 'queued' end),
        admitted_at = case when r.flow = 'legacy' and held.ended is null then coalesce($4::timestamptz, now()) end,
        finished_at = case when held.ended is not null then coalesce($4::timestamptz, now()) end,
        message = case when held.ended is not null
                       then held.ended || '; its worker stopped before it stopped the run'
                       else r.message end,
        cancel_requested = false,
        worker_id = null, started_at = null, head_since = null,
        handed_back_attempts = r.handed_back_attempts + 1,  -- not counted against the job's attempts
        -- A streaming run's hand-back is an execution but no failure: it uses no restart (null on
        -- batch runs, and so they stay).
        submission_attempts = r.submission_attempts + 1, execution_attempts = r.execution_attempts + 1
    from held
    where r.id = held.id
    returning r.id, r.attempt_id, r.state
), attempt as (
    insert into attempts (id, run_id, worker_id, number, started_at, admitted_at, finished_at, outcome)
    select run.attempt_id, run.id, held.worker_id, held.attempt, held.started_at, held.admitted_at,
           coalesce($4::timestamptz, now()), 'handed_back'
    from run join held on held.id = run.id
)
insert into run_events (run_id, at, kind, actor, message, details)
select id, coalesce($4::timestamptz, now()),
       case state when 'cancelled' then 'cancelled' when 'aborted' then 'aborted' else 'requeued' end, 'worker',
       case when state in ('cancelled', 'aborted')
            then 'its worker stopped before it stopped the run; its cancel was requested: ' || state
                 || ', not queued again'
            else $3 end,
       jsonb_build_object('attempt_id', attempt_id, 'state', state)
from run
returning run_id, details ->> 'state' as state
