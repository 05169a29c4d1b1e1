-- Replaces a job's definition with its `updated` event, unless it changed since the caller read it.
-- $1 name, $2 description, $3 kind, $4 service, $5 namespace, $6 run-as user, $7 priority, $8 flow,
-- $9 cpu, $10 memory, $11 pods, $12 storage, $13 input_blob_id (nullable), $14 command (jsonb,
-- nullable), $15 args (jsonb), $16 env (jsonb), $17 timeout_seconds (nullable), $18 max_attempts,
-- $19 retry back-off, $20 longest back-off, $21 tags (jsonb) (the same as jobs/create.sql),
-- $22 actor, $23 event changes (jsonb), $24 now (nullable), $25 job id, $26 updated_at the caller read,
-- $27 restart policy (jsonb, nullable: not a streaming job).
-- $28 workflow steps (jsonb, nullable: not a workflow).
-- Row locks: the job row (update). Runs already created keep their own copy of everything.
with job as (
    update jobs
    set name = $1, description = $2, kind = $3, service = $4, namespace = $5, user_id = $6, priority = $7,
        flow = $8, cpu = $9, memory = $10, pods = $11, storage = $12, input_blob_id = $13, command = $14,
        args = $15, env = $16, timeout_seconds = $17, max_attempts = $18, retry_backoff_seconds = $19,
        retry_backoff_max_seconds = $20, tags = $21, restart = $27, steps = $28,
        -- Strictly later than the version replaced, so the next writer's check sees the change.
        updated_at = greatest(coalesce($24::timestamptz, now()), updated_at + interval '1 microsecond')
    where id = $25 and updated_at = $26 and deleted_at is null
    returning id, updated_at
), event as (
    insert into job_events (job_id, at, kind, actor, changes)
    select id, updated_at, 'updated', $22, $23 from job
)
select id from job
