-- Inserts a stored job with its `created` event. $1 name, $2 description, $3 kind, $4 service,
-- $5 namespace, $6 run-as user, $7 priority, $8 flow, $9 cpu, $10 memory, $11 pods, $12 storage,
-- $13 input_blob_id (nullable), $14 command (jsonb, nullable), $15 args (jsonb), $16 env (jsonb),
-- $17 timeout_seconds (nullable), $18 max_attempts, $19 retry back-off, $20 longest back-off,
-- $21 tags (jsonb), $22 created by, $23 event changes (jsonb), $24 now (nullable),
-- $25 restart policy (jsonb, nullable: not a streaming job).
-- $26 workflow steps (jsonb, nullable: not a workflow).
-- No row locks. A name already used in the namespace violates jobs_stored_name.
with job as (
    insert into jobs (name, description, kind, service, namespace, user_id, priority, flow, cpu, memory, pods,
                      storage, input_blob_id, command, args, env, timeout_seconds, max_attempts,
                      retry_backoff_seconds, retry_backoff_max_seconds, tags, created_by, created_at, updated_at, restart,
                      steps)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
            coalesce($24::timestamptz, now()), coalesce($24::timestamptz, now()), $25, $26)
    returning id, created_at
), event as (
    insert into job_events (job_id, at, kind, actor, changes)
    select id, created_at, 'created', $22, $23 from job
)
select id from job
