-- Ends the current attempt of a run with its outcome, result and event. Refused (no row returned)
-- unless $2 is still the run's fencing token and the run is still running: a worker that lost its
-- lease cannot overwrite anything.
-- $1 run_id, $2 attempt_id, $3 final state ('succeeded' | 'failed' | 'timed_out' | 'cancelled'),
-- $4 exit_code, $5 result_blob_id, $6 message, $7 now (nullable).
-- Row locks: the run row (update).
with run as (
    update runs
    set state = $3, finished_at = coalesce($7::timestamptz, now()), exit_code = $4,
        result_blob_id = $5, message = $6
    where id = $1 and attempt_id = $2 and state = 'running'
    returning id, attempt_id, finished_at, state, exit_code
), attempt as (
    update attempts a
    set finished_at = run.finished_at, outcome = run.state, exit_code = run.exit_code
    from run
    where a.id = run.attempt_id
), event as (
    insert into run_events (run_id, at, kind, actor, message, details)
    select id, finished_at, state, 'worker', $6,
           jsonb_build_object('exit_code', exit_code, 'attempt_id', attempt_id)
    from run
)
select id from run
