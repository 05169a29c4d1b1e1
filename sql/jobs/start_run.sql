-- Starts a run of a stored job: the run copies the job's scheduling fields and payload (with the
-- caller's overrides), gets its `submitted` event (and `admitted` for the legacy flow) and wakes the
-- leader or the workers at commit. $1 job id, $2 priority (nullable: the job's), $3 env overrides
-- (jsonb, merged over the job's), $4 command (jsonb, nullable: run.sh), $5 triggered by,
-- $6 now (nullable), $7 true when admission is off (every run is legacy), $8 the events' actor
-- (nullable: $5; a service account that starts the run for user $5).
-- A streaming job's run copies its restart policy and starts its attempt counts at 0; a second
-- active run of a streaming job violates runs_streaming_active (the API answers 409).
-- No row locks. No row when the job does not exist or is deleted.
with job as (
    select * from jobs where id = $1 and deleted_at is null
), run as (
    insert into runs (job_id, user_id, service, namespace, priority, flow, cpu, memory, pods, storage, state,
                      enqueued_at, admitted_at, max_attempts, retry_backoff_seconds, retry_backoff_max_seconds,
                      input_blob_id, command, env, timeout_seconds, triggered_by,
                      restart, submission_attempts, execution_attempts, submission_failures, execution_failures)
    select id, user_id, service, namespace, coalesce($2, priority), case when $7 then 'legacy' else flow end,
           cpu, memory, pods, storage,
           case when $7 or flow = 'legacy' then 'admitted' else 'queued' end,
           coalesce($6::timestamptz, now()),
           case when $7 or flow = 'legacy' then coalesce($6::timestamptz, now()) end,
           max_attempts, retry_backoff_seconds, retry_backoff_max_seconds,
           input_blob_id, $4, env || $3, timeout_seconds, $5,
           restart, case when restart is not null then 0 end, case when restart is not null then 0 end,
           case when restart is not null then 0 end, case when restart is not null then 0 end
    from job
    returning id, state, enqueued_at, user_id, service
), event as (
    insert into run_events (run_id, at, kind, actor, message)
    select id, enqueued_at, 'submitted', coalesce($8, $5), 'started by ' || $5 || ' as user ' || user_id || ' on service ' || service
    from run
    union all
    select id, enqueued_at, 'admitted', coalesce($8, $5), 'legacy flow: admitted on insert' from run where state = 'admitted'
)
select id, pg_notify(case when state = 'admitted' then 'berth_admitted' else 'berth_queued' end, '')
from run
