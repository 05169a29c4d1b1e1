-- Ends the current attempt of a run with its outcome, result, attempt row and event. Refused (no
-- row returned) unless $2 is still the run's fencing token and the run is still running: a worker
-- that lost its lease cannot overwrite anything. With $8 set (a retry), the run waits $8 seconds and then goes
-- back to the queue at its place instead of ending; with $9 true as well (an infrastructure fault,
-- retry::decide), the attempt does not count against the job's own and joins the lost ones.
-- A streaming run (restart set; retry::restart decided) also counts the attempt by kind ($10, $11;
-- the counts are null on batch runs and stay so), and a restart ($8 with $12, its reason) writes
-- a `restart` event. A streaming run whose abort was requested (cancel_requested) is not restarted
-- whatever the decision: it ends `aborted`; a batch run whose cancel was requested is not retried
-- either: it ends `cancelled` (the attempt failed before its worker stopped it).
-- $1 run_id, $2 attempt_id, $3 attempt outcome ('succeeded' | 'failed' | 'timed_out' | 'cancelled'
-- | 'aborted'), $4 exit_code, $5 result_blob_id, $6 message, $7 now (nullable), $8 retry after
-- seconds (nullable), $9 excused (the retry is for an infrastructure fault), $10 the process ran
-- (streaming), $11 failure kind ('submission_failure' | 'execution_failure', nullable),
-- $12 restart reason (nullable).
-- Row locks: the run row (update).
with run as (
    update runs
    set state = case when $8::float8 is null then $3
                     when cancel_requested then case when restart is null then 'cancelled' else 'aborted' end
                     else 'waiting' end,
        finished_at = case when $8::float8 is null or cancel_requested then coalesce($7::timestamptz, now()) end,
        not_before = case when $8::float8 is null or cancel_requested then null
                          else coalesce($7::timestamptz, now()) + make_interval(secs => $8::float8) end,
        exit_code = $4, result_blob_id = $5, message = $6, cancel_requested = false,
        lost_attempts = lost_attempts + case when $8::float8 is not null and $9::boolean then 1 else 0 end,
        submission_attempts = submission_attempts + 1,
        execution_attempts = execution_attempts + case when $10::boolean then 1 else 0 end,
        submission_failures = submission_failures + case when $11::text = 'submission_failure' then 1 else 0 end,
        execution_failures = execution_failures + case when $11::text = 'execution_failure' then 1 else 0 end
    where id = $1 and attempt_id = $2 and state = 'running'
    -- The end changes none of the start's columns (worker_id, started_at, admitted_at): they are
    -- the attempt's, for its row (migration 0024).
    returning id, attempt, attempt_id, coalesce($7::timestamptz, now()) as at, exit_code, not_before, state,
              restart is not null as streaming, submission_attempts, execution_attempts, submission_failures,
              execution_failures, worker_id, started_at, case when flow = 'priority' then admitted_at end as admitted_at
), attempt as (
    insert into attempts (id, run_id, worker_id, number, started_at, admitted_at, finished_at, outcome, exit_code)
    select attempt_id, id, worker_id, attempt, started_at, admitted_at, at, $3, exit_code
    from run
), event as (
    insert into run_events (run_id, at, kind, actor, message, details)
    select id, at, $3, 'worker',
           case when not_before is null then $6
                when streaming then $6
                else $6 || '; attempt ' || attempt || ' of the job''s allowed, retry at ' || not_before end,
           jsonb_build_object('exit_code', exit_code, 'attempt', attempt, 'attempt_id', attempt_id,
                              'retry_at', not_before)
    from run
    union all
    -- One event per restart of a streaming run, with its reason and the counts so far.
    select id, at, 'restart', 'worker',
           'restart (' || $12 || ') at ' || not_before || ': ' || submission_attempts || ' submissions, '
               || execution_attempts || ' executions, ' || submission_failures || ' submission and '
               || execution_failures || ' execution failures so far',
           jsonb_build_object('reason', $12, 'restart_at', not_before, 'attempt_id', attempt_id,
                              'submission_attempts', submission_attempts, 'execution_attempts', execution_attempts,
                              'submission_failures', submission_failures, 'execution_failures', execution_failures)
    from run
    where streaming and state = 'waiting' and $12::text is not null
    union all
    select id, at, 'aborted', 'worker', 'aborted as it ended: not restarted', jsonb_build_object('attempt_id', attempt_id)
    from run
    where streaming and state = 'aborted' and $3 <> 'aborted'
    union all
    select id, at, 'cancelled', 'worker', 'cancelled as it ended: not retried', jsonb_build_object('attempt_id', attempt_id)
    from run
    where not streaming and state = 'cancelled' and $3 <> 'cancelled'
)
select id from run
