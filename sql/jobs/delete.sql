-- Deletes a job (soft: its finished runs stay readable), with its `deleted` event. With $3 true it
-- first cancels the job's runs that have not started and asks the workers to stop its running ones;
-- with $3 false the caller has checked that none is active. $1 job id, $2 actor, $3 cancel runs,
-- $4 now (nullable). Row locks: the job row and its active runs (update).
with job as (
    update jobs set deleted_at = coalesce($4::timestamptz, now()), updated_at = coalesce($4::timestamptz, now())
    where id = $1 and deleted_at is null
    returning id, deleted_at
), stopped as (
    -- One update decides each run on its latest version: a run a worker claims while this
    -- statement runs (admitted in its snapshot, running when the update reaches it) is asked to
    -- stop, not missed (two updates, one per state, each skipped it: workflows/cancel.sql).
    update runs r
    set state = case when r.state = 'running' then r.state else 'cancelled' end,
        finished_at = case when r.state = 'running' then r.finished_at else job.deleted_at end,
        head_since = case when r.state = 'running' then r.head_since end,
        cancel_requested = r.state = 'running',
        message = case when r.state = 'running' then r.message else 'its job was deleted' end
    from job
    where $3 and r.job_id = job.id and r.state in ('queued', 'waiting', 'admitted', 'running')
      and not r.cancel_requested
    returning r.id, r.state, r.finished_at
), unstarted as (
    select id, finished_at from stopped where state = 'cancelled'
), running as (
    select id from stopped where state = 'running'
), run_events as (
    insert into run_events (run_id, at, kind, actor, message)
    select id, finished_at, 'cancelled', $2, 'its job was deleted' from unstarted
    union all
    select id, coalesce($4::timestamptz, now()), 'cancel_requested', $2, 'its job was deleted; the worker will stop it'
    from running
), event as (
    insert into job_events (job_id, at, kind, actor, changes)
    select id, deleted_at, 'deleted', $2,
           jsonb_build_object('cancelled_runs', (select count(*) from unstarted),
                              'stopping_runs', (select count(*) from running))
    from job
)
select (select count(*) from job)::bigint as deleted, (select count(*) from unstarted)::bigint as cancelled,
       (select count(*) from running)::bigint as stopping
