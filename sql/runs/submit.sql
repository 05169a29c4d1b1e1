-- Inserts a one-off job (an upload) and its first run, which copies the job's payload, with the
-- `submitted` event (and `admitted` for the legacy flow), stores an input that fits one blob chunk,
-- and wakes the leader (queued) or the workers (admitted) at commit: one statement, so a
-- submission is one round trip. Inserts nothing and returns no row when the namespace does not
-- exist (submissions never create namespaces).
-- $1 name, $2 service, $3 namespace, $4 user_id, $5 priority, $6 flow,
-- $7 cpu, $8 memory, $9 pods, $10 storage, $11 input_blob_id (nullable: stored by the caller when
-- larger than one chunk), $12 command (jsonb, null for run.sh),
-- $13 env (jsonb), $14 timeout_seconds, $15 max_attempts, $16 initial state ('queued' | 'admitted'),
-- $17 now (nullable: the database clock), $18 idempotency key (nullable), $19 request fingerprint,
-- $20 input zip of at most one chunk (nullable: none, or $11), $21 retry back-off seconds,
-- $22 longest retry back-off, $23 the acting subject (the events' actor: `api` with auth off, or the
-- token's subject, e.g. the service account that submitted for user $4).
-- No row locks (namespaces are never deleted, so reading the namespace is enough).
with ns as (
    select name from namespaces where name = $3
), input as (
    insert into blobs (size) select length($20::bytea) from ns where $20::bytea is not null
    returning id
), input_chunk as (
    insert into blob_chunks (blob_id, seq, data) select id, 0, $20::bytea from input where length($20::bytea) > 0
), job as (
    insert into jobs (name, service, namespace, user_id, priority, flow, cpu, memory, pods, storage,
                      input_blob_id, command, env, timeout_seconds, max_attempts, created_at,
                      retry_backoff_seconds, retry_backoff_max_seconds, updated_at, created_by, one_off)
    select $1, $2, ns.name, $4, $5, $6, $7, $8, $9, $10, coalesce($11::bigint, (select id from input)), $12, $13, $14,
           $15, coalesce($17::timestamptz, now()), $21, $22, coalesce($17::timestamptz, now()), $4, true
    from ns
    returning *
), run as (
    insert into runs (job_id, user_id, service, namespace, priority, flow, cpu, memory, pods, storage,
                      state, enqueued_at, admitted_at, max_attempts, idempotency_key, request_hash,
                      retry_backoff_seconds, retry_backoff_max_seconds,
                      input_blob_id, command, env, timeout_seconds, triggered_by)
    select id, user_id, service, namespace, priority, flow, cpu, memory, pods, storage,
           $16, created_at, case when $16 = 'admitted' then created_at end, max_attempts, $18, $19,
           retry_backoff_seconds, retry_backoff_max_seconds,
           input_blob_id, command, env, timeout_seconds, 'upload'
    from job
    returning id, state, enqueued_at
), event as (
    insert into run_events (run_id, at, kind, actor, message)
    select id, enqueued_at, 'submitted', $23, 'submitted by user ' || $4 || ' to service ' || $2 from run
    union all
    select id, enqueued_at, 'admitted', $23, 'legacy flow: admitted on insert' from run where state = 'admitted'
)
select id, pg_notify(case when state = 'admitted' then 'berth_admitted' else 'berth_queued' end, '')
from run
