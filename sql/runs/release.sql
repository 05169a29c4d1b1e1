-- Hands a running attempt back (graceful worker drain): the run goes back to the queue at its place
-- (enqueued_at is unchanged), or straight back to admitted for the legacy flow. Refused unless $2
-- is still the fencing token. $1 run_id, $2 attempt_id, $3 reason, $4 now (nullable).
-- Row locks: the run row.
with run as (
    update runs
    set state = case when flow = 'legacy' then 'admitted' else 'queued' end,
        admitted_at = case when flow = 'legacy' then coalesce($4::timestamptz, now()) end,
        worker_id = null, started_at = null, head_since = null,
        handed_back_attempts = handed_back_attempts + 1,  -- not counted against the job's attempts
        -- A streaming run's hand-back is an execution but no failure: it uses no restart (null on
        -- batch runs, and so they stay).
        submission_attempts = submission_attempts + 1, execution_attempts = execution_attempts + 1
    where id = $1 and attempt_id = $2 and state = 'running'
    returning id, attempt_id, state
), attempt as (
    update attempts a set finished_at = coalesce($4::timestamptz, now()), outcome = 'handed_back'
    from run
    where a.id = run.attempt_id
)
insert into run_events (run_id, at, kind, actor, message, details)
select id, coalesce($4::timestamptz, now()), 'requeued', 'worker', $3,
       jsonb_build_object('attempt_id', attempt_id, 'state', state)
from run
returning run_id
