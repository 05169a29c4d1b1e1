-- Aborts a streaming run (POST /api/v1/runs/{id}/abort), in one statement so that no state change
-- can slip between "not started" and "running": a run that has not started (queued, waiting,
-- admitted) ends `aborted` at once; a running one is asked to stop through the cancellation path
-- (cancel_requested: the worker learns it at once through NOTIFY berth_cancel or at its next
-- heartbeat, kills the process group, and records `aborted`; runs/finish.sql and
-- runs/rescue_lost.sql never restart a run whose abort was requested). Answers the run's new state;
-- no row when the run is not a streaming run, has finished, or its stop was already requested.
-- $1 run_id, $2 actor, $3 now (nullable). Row locks: the run row.
with run as (
    update runs
    set state = case when state = 'running' then state else 'aborted' end,
        finished_at = case when state = 'running' then finished_at else coalesce($3::timestamptz, now()) end,
        not_before = case when state = 'running' then not_before end,
        head_since = null,
        cancel_requested = state = 'running',
        message = case when state = 'running' then message else 'aborted by ' || $2 || ' before it ran' end
    where id = $1 and restart is not null and state in ('queued', 'waiting', 'admitted', 'running')
      and not cancel_requested
    returning id, state, coalesce($3::timestamptz, now()) as at
), event as (
    insert into run_events (run_id, at, kind, actor, message)
    select id, at, case when state = 'aborted' then 'aborted' else 'abort_requested' end, $2,
           case when state = 'aborted' then 'aborted by ' || $2 || ' before it ran'
                else 'abort requested by ' || $2 || '; the worker will stop it' end
    from run
)
select state from run
