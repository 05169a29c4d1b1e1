-- Starts a workflow run: the workflow_runs row, one run per step (copied from the step's job the
-- way jobs/start_run.sql copies one), the workflow_steps rows with their counts of parents, the
-- edges, and each run's events, in one statement. A step without parents is queued (admitted for
-- the legacy flow); the others wait (`waiting`, no not_before: only the release in
-- workflow_step_ended() moves them).
-- $1 workflow job id, $2 step names text[], $3 step job ids bigint[], $4 parents per step int[],
-- $5 edge parents int[] and $6 edge children int[] (1-based indexes into the steps),
-- $7 priority (nullable: each job's), $8 env overrides (jsonb, merged over each job's),
-- $9 triggered by, $10 now (nullable), $11 true when admission is off (every run is legacy).
-- No row locks (the caller holds the jobs FOR SHARE). No row when the workflow job is gone.
with wf as (
    insert into workflow_runs (job_id, namespace, user_id, steps_total, steps_left, triggered_by, created_at)
    select id, namespace, user_id, cardinality($2::text[]), cardinality($2::text[]), $9,
           coalesce($10::timestamptz, now())
    from jobs where id = $1 and deleted_at is null and kind = 'workflow'
    returning id, created_at
), step as materialized (
    -- The runs' ids are drawn first, so that steps and edges can name them.
    select s.ord, s.name, s.job_id, s.pending, nextval('runs_id_seq') as run_id
    from unnest($2::text[], $3::bigint[], $4::int[]) with ordinality as s (name, job_id, pending, ord)
    where exists (select 1 from wf)
), run as (
    insert into runs (id, job_id, user_id, service, namespace, priority, flow, cpu, memory, pods, storage, state,
                      enqueued_at, admitted_at, max_attempts, retry_backoff_seconds, retry_backoff_max_seconds,
                      input_blob_id, command, env, timeout_seconds, triggered_by, workflow_run_id)
    select s.run_id, j.id, j.user_id, j.service, j.namespace, coalesce($7, j.priority),
           case when $11 then 'legacy' else j.flow end,
           j.cpu, j.memory, j.pods, j.storage,
           case when s.pending > 0 then 'waiting' when $11 or j.flow = 'legacy' then 'admitted' else 'queued' end,
           wf.created_at,
           case when s.pending = 0 and ($11 or j.flow = 'legacy') then wf.created_at end,
           j.max_attempts, j.retry_backoff_seconds, j.retry_backoff_max_seconds, j.input_blob_id,
           -- JobRow::command_line: the command and the args, else `bash run.sh` with args, else run.sh
           case when j.command is not null then j.command || j.args
                when j.args = '[]'::jsonb then null
                else '["bash", "run.sh"]'::jsonb || j.args end,
           j.env || $8, j.timeout_seconds, $9, wf.id
    from step s
    cross join wf
    join jobs j on j.id = s.job_id and j.deleted_at is null
    returning id, state, enqueued_at, user_id, service, workflow_run_id
), steps as (
    insert into workflow_steps (run_id, workflow_run_id, name, pending_parents)
    select s.run_id, wf.id, s.name, s.pending from step s cross join wf
), edges as (
    insert into workflow_edges (parent_run_id, child_run_id)
    select p.run_id, c.run_id
    from unnest($5::int[], $6::int[]) as e (parent, child)
    join step p on p.ord = e.parent
    join step c on c.ord = e.child
), events as (
    insert into run_events (run_id, at, kind, actor, message)
    select r.id, r.enqueued_at, 'submitted', $9,
           'step ' || s.name || ' of workflow run ' || r.workflow_run_id || ', started by ' || $9 || ' as user '
           || r.user_id || ' on service ' || r.service
    from run r join step s on s.run_id = r.id
    union all
    select id, enqueued_at, 'admitted', $9, 'legacy flow: admitted on insert' from run where state = 'admitted'
    union all
    select r.id, r.enqueued_at, 'waiting', $9, 'waiting for its ' || s.pending || ' parent steps to succeed'
    from run r join step s on s.run_id = r.id where r.state = 'waiting'
)
select wf.id,
       (select count(*) from run)::bigint as runs,
       (select count(*) from run where state = 'queued')::bigint as queued,
       (select count(*) from run where state = 'admitted')::bigint as admitted
from wf
