-- Cancels a workflow run: marks it, moves its unstarted steps (waiting, queued, admitted) to
-- `cancelled` (end_reason `workflow_cancelled`) and asks the workers to stop its running ones
-- (`cancel_requested`), with their events, in one statement. One update of runs decides each step
-- on its latest version (a step claimed meanwhile is stopped, not missed). workflow_step_ended()
-- then counts each ended step; the workflow run ends `cancelled` with its last step.
-- $1 workflow run id, $2 actor, $3 now (nullable).
-- Row locks: the workflow run row, its unfinished step runs (update).
with wf as (
    update workflow_runs set cancel_requested = true
    where id = $1 and state = 'running'
    returning id
), step as (
    update runs r
    set state = case when r.state = 'running' then r.state else 'cancelled' end,
        finished_at = case when r.state = 'running' then r.finished_at else coalesce($3::timestamptz, now()) end,
        head_since = null,
        cancel_requested = r.state = 'running',
        message = 'its workflow run ' || $1 || ' was cancelled'
    from workflow_steps s
    where s.workflow_run_id = (select id from wf) and r.id = s.run_id
      and r.state in ('waiting', 'queued', 'admitted', 'running') and not r.cancel_requested
    returning r.id, r.state, r.message
), marked as (
    update workflow_steps s set end_reason = 'workflow_cancelled'
    from step where s.run_id = step.id and step.state = 'cancelled'
), events as (
    insert into run_events (run_id, at, kind, actor, message, details)
    select id, coalesce($3::timestamptz, now()),
           case when state = 'cancelled' then 'cancelled' else 'cancel_requested' end, $2, message,
           jsonb_build_object('reason', 'workflow_cancelled', 'workflow_run_id', $1)
    from step
)
select (select count(*) from wf)::bigint as found,
       (select count(*) from step where state = 'cancelled')::bigint as cancelled,
       (select count(*) from step where state = 'running')::bigint as stopping
