-- Ends the current attempt of a run with its outcome, result and event. Refused (no row returned)
-- unless $2 is still the run's fencing token and the run is still running: a worker that lost its
-- lease cannot overwrite anything. With $8 set (a retry), the run waits $8 seconds and then goes
-- back to the queue at its place instead of ending; with $9 true as well (an infrastructure fault,
-- retry::decide), the attempt does not count against the job's own and joins the lost ones.
-- $1 run_id, $2 attempt_id, $3 attempt outcome ('succeeded' | 'failed' | 'timed_out' | 'cancelled'),
-- $4 exit_code, $5 result_blob_id, $6 message, $7 now (nullable), $8 retry after seconds (nullable),
-- $9 excused (the retry is for an infrastructure fault).
-- Row locks: the run row (update).
with run as (
    update runs
    set state = case when $8::float8 is null then $3 else 'waiting' end,
        finished_at = case when $8::float8 is null then coalesce($7::timestamptz, now()) end,
        not_before = case when $8::float8 is null then null
                          else coalesce($7::timestamptz, now()) + make_interval(secs => $8::float8) end,
        exit_code = $4, result_blob_id = $5, message = $6, cancel_requested = false,
        lost_attempts = lost_attempts + case when $8::float8 is not null and $9::boolean then 1 else 0 end
    where id = $1 and attempt_id = $2 and state = 'running'
    returning id, attempt, attempt_id, coalesce($7::timestamptz, now()) as at, exit_code, not_before
), attempt as (
    update attempts a
    set finished_at = run.at, outcome = $3, exit_code = run.exit_code
    from run
    where a.id = run.attempt_id
), event as (
    insert into run_events (run_id, at, kind, actor, message, details)
    select id, at, $3, 'worker',
           case when not_before is null then $6
                else $6 || '; attempt ' || attempt || ' of the job''s allowed, retry at ' || not_before end,
           jsonb_build_object('exit_code', exit_code, 'attempt', attempt, 'attempt_id', attempt_id,
                              'retry_at', not_before)
    from run
)
select id from run
