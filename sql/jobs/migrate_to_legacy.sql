-- The seed's "migrate" endpoint: every job to the legacy flow at once; their queued runs are
-- admitted on the spot (legacy runs skip admission), each with its event.
-- $1 actor. Row locks: the job rows and the queued run rows (update).
with jobs_moved as (
    update jobs set flow = 'legacy', updated_at = greatest(now(), updated_at + interval '1 microsecond')
    where flow = 'priority' and deleted_at is null
    returning id, updated_at
), job_events as (
    -- Every change to a job is recorded (GET /api/v1/jobs/{id}/events); one-off jobs too.
    insert into job_events (job_id, at, kind, actor, changes)
    select id, updated_at, 'updated', $1, '{"flow": {"from": "priority", "to": "legacy"}}'::jsonb from jobs_moved
), runs_moved as (
    update runs set flow = 'legacy', state = case when state = 'queued' then 'admitted' else state end,
                    admitted_at = case when state = 'queued' then now() else admitted_at end,
                    head_since = null, block = null
    where flow = 'priority' and state in ('queued', 'waiting')
    returning id, state
), events as (
    insert into run_events (run_id, kind, actor, message)
    select id, 'admitted', $1, 'moved to the legacy flow: admitted without admission checks'
    from runs_moved where state = 'admitted'
)
select (select count(*) from jobs_moved)::bigint as jobs, (select count(*) from runs_moved)::bigint as runs
