-- Commits the leader's decisions for a batch of due schedules in one statement: each schedule's
-- `after_at` and `next_fire_at` advance; each fire time to start gets its `schedule_fires` row
-- and, in the same statement, its run (started the way `jobs/start_run.sql` starts one, with
-- `triggered_by = 'schedule'`); missed fire times get their rows.
--
-- Exactly once: the fire row's primary key (job_id, fire_at) refuses a second fire for the same
-- time (`on conflict do nothing`: that fire happened already, and no run is inserted for it), and
-- a schedule moves only from the `after_at` its decision was made from.
--
-- Concurrency, judged on the statement's snapshot: with a run of the job active (queued, waiting,
-- admitted, running), `forbid` records the fire as `skipped`, `replace` cancels the unstarted
-- runs, asks the workers to stop the running ones, and starts (`replaced`); `allow` starts.
--
-- $1 job ids, $2 after_at each decision read, $3 new after_at, $4 next_fire_at (nullable
-- elements), $5 fire time to start (nullable elements), $6 job ids of missed fires, $7 their fire
-- times, $8 now (nullable), $9 true when admission is off (every run is legacy).
-- Workflow jobs (kind `workflow`) fire the same way, judged on their running workflow runs; their
-- fire rows name no run, and the statement returns them (with their fire times) for the caller to
-- start, or to record `refused` when the schedule's setter may no longer run every step.
-- Row locks: the schedule rows (already held by schedules/due.sql), the jobs that fire (FOR SHARE,
-- until the commit), the replaced runs (update).
with input as (
    select * from unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[])
        as i (job_id, seen_after, new_after, next_fire_at, start_at)
), advanced as (
    update schedules s set after_at = i.new_after, next_fire_at = i.next_fire_at
    from input i
    where s.job_id = i.job_id and s.after_at = i.seen_after and not s.paused
    returning s.job_id, s.policy, i.start_at
), locked as materialized (
    -- The jobs that fire, FOR SHARE until the commit, as a start by hand locks its job
    -- (jobs/lock.sql): an edit (a PUT, new files) waits for this fire's commit, so a prepared fire
    -- that commits seconds later never records a run of a definition, or an input, replaced
    -- meanwhile (retention could have deleted that input). An edit committed before this statement
    -- is what it reads.
    select j.id, j.kind, j.deleted_at from jobs j where j.id in (select job_id from advanced where start_at is not null)
    for share of j
), decided as materialized (
    select a.job_id, a.start_at,
           -- `allow` starts whatever is active: no probe of the job's runs.
           case when a.policy = 'allow' then 'started'
                when not exists (select 1 from runs r
                                 where r.job_id = a.job_id and r.state in ('queued', 'waiting', 'admitted', 'running'))
                     -- A workflow job's active runs are its running workflow runs.
                     and not exists (select 1 from workflow_runs w where w.job_id = a.job_id and w.state = 'running')
                then 'started'
                when a.policy = 'forbid' then 'skipped'
                else 'replaced' end as outcome
    from advanced a
    join locked j on j.id = a.job_id and j.deleted_at is null and j.kind in ('batch', 'workflow')
    where a.start_at is not null
), numbered as materialized (
    -- The run's id is drawn before the fire row is written, so that the row names its run. A
    -- workflow's fire has no run here: the caller starts its workflow run in this transaction
    -- (store/workflows.rs), from the `workflows` this statement returns.
    select d.job_id, d.start_at, d.outcome,
           case when d.outcome <> 'skipped' and j.kind = 'batch' then nextval('runs_id_seq') end as run_id
    from decided d join jobs j on j.id = d.job_id
), fired as (
    insert into schedule_fires (job_id, fire_at, outcome, run_id, decided_at)
    select job_id, start_at, outcome, run_id, coalesce($8::timestamptz, now()) from numbered
    on conflict (job_id, fire_at) do nothing
    returning job_id, fire_at, outcome, run_id
), missed as (
    insert into schedule_fires (job_id, fire_at, outcome, decided_at)
    select m.job_id, m.fire_at, 'missed', coalesce($8::timestamptz, now())
    from unnest($6::bigint[], $7::timestamptz[]) as m (job_id, fire_at)
    where m.job_id in (select job_id from advanced)
    on conflict (job_id, fire_at) do nothing
    returning job_id
), stopped as (
    -- One update decides each active run on its latest version: a run a worker claims while this
    -- statement runs (admitted in its snapshot, running when the update reaches it) is asked to
    -- stop, not missed (two updates, one per state, each skipped it: workflows/cancel.sql).
    update runs r
    set state = case when r.state = 'running' then r.state else 'cancelled' end,
        finished_at = case when r.state = 'running' then r.finished_at else coalesce($8::timestamptz, now()) end,
        head_since = case when r.state = 'running' then r.head_since end,
        cancel_requested = r.state = 'running',
        message = case when r.state = 'running' then r.message
                       else 'replaced by the run of its schedule''s fire at ' || f.fire_at end
    from fired f
    where f.outcome = 'replaced' and r.job_id = f.job_id and r.state in ('queued', 'waiting', 'admitted', 'running')
      and not r.cancel_requested
    returning r.id, r.state, r.finished_at, r.message, f.fire_at
), unstarted as (
    select id, finished_at, message from stopped where state = 'cancelled'
), running as (
    select id, fire_at from stopped where state = 'running'
), run as (
    insert into runs (id, job_id, user_id, service, namespace, priority, flow, cpu, memory, pods, storage, state,
                      enqueued_at, admitted_at, max_attempts, retry_backoff_seconds, retry_backoff_max_seconds,
                      input_blob_id, command, env, timeout_seconds, triggered_by)
    select f.run_id, j.id, j.user_id, j.service, j.namespace, j.priority,
           case when $9 then 'legacy' else j.flow end,
           j.cpu, j.memory, j.pods, j.storage,
           case when $9 or j.flow = 'legacy' then 'admitted' else 'queued' end,
           coalesce($8::timestamptz, now()),
           case when $9 or j.flow = 'legacy' then coalesce($8::timestamptz, now()) end,
           j.max_attempts, j.retry_backoff_seconds, j.retry_backoff_max_seconds, j.input_blob_id,
           -- JobRow::command_line: the command and the args, else `bash run.sh` with args, else run.sh
           case when j.command is not null then j.command || j.args
                when j.args = '[]'::jsonb then null
                else '["bash", "run.sh"]'::jsonb || j.args end,
           j.env, j.timeout_seconds, 'schedule'
    from fired f
    join jobs j on j.id = f.job_id
    where f.run_id is not null
    returning id, state, enqueued_at, user_id, service
), events as (
    insert into run_events (run_id, at, kind, actor, message)
    -- From the fires (and their jobs, as `run` read them), not joined to `run`: two CTE scans
    -- joined on the run id plan as a nested loop (a CTE's row estimate is 1), quadratic in the
    -- batch (10,000 fires: 16 s).
    select f.run_id, coalesce($8::timestamptz, now()), 'submitted', 'schedule',
           'started by its schedule for the fire at ' || f.fire_at || ' as user ' || j.user_id
           || ' on service ' || j.service
    from fired f join jobs j on j.id = f.job_id
    where f.run_id is not null
    union all
    select id, enqueued_at, 'admitted', 'schedule', 'legacy flow: admitted on insert' from run where state = 'admitted'
    union all
    select id, finished_at, 'cancelled', 'schedule', message from unstarted
    union all
    select id, coalesce($8::timestamptz, now()), 'cancel_requested', 'schedule',
           'replaced by the run of its schedule''s fire at ' || fire_at || '; the worker will stop it'
    from running
)
select (select count(*) from fired where outcome = 'started')::bigint as started,
       (select count(*) from fired where outcome = 'replaced')::bigint as replaced,
       (select count(*) from fired where outcome = 'skipped')::bigint as skipped,
       (select count(*) from missed)::bigint as missed,
       (select count(*) from run where state = 'queued')::bigint as queued,
       (select count(*) from run where state = 'admitted')::bigint as admitted,
       (select count(*) from unstarted)::bigint as cancelled,
       (select count(*) from running)::bigint as stopping,
       (select count(*) from advanced)::bigint as advanced,
       -- Workflow jobs to start (and, `replaced`, whose running workflow runs to cancel first).
       (select coalesce(array_agg(f.job_id order by f.job_id), '{}') from fired f join jobs j on j.id = f.job_id
        where j.kind = 'workflow' and f.outcome in ('started', 'replaced'))::bigint[] as workflows,
       -- Their fire times, element by element.
       (select coalesce(array_agg(f.fire_at order by f.job_id), '{}') from fired f join jobs j on j.id = f.job_id
        where j.kind = 'workflow' and f.outcome in ('started', 'replaced'))::timestamptz[] as workflows_fire_at,
       (select coalesce(array_agg(f.job_id order by f.job_id), '{}') from fired f join jobs j on j.id = f.job_id
        where j.kind = 'workflow' and f.outcome = 'replaced')::bigint[] as workflows_replaced
