-- Bulk enqueue: one one-off job and its first run per element of $6, all from one template, with their
-- `submitted` events (and `admitted` for the legacy flow), in one set-based statement.
-- $1 name, $2 service, $3 namespace, $4 priority, $5 flow, $6 user_ids text[] (one run each),
-- $7 cpu, $8 memory, $9 pods, $10 storage, $11 input_blob_id (shared by the batch),
-- $12 timeout_seconds, $13 max_attempts, $14 initial state ('queued' | 'admitted'), $15 now (nullable).
-- No row locks.
with input as materialized (
    -- Job ids are drawn in input order, so run ids (and the FIFO tie-break) follow it too.
    select u.user_id, nextval('jobs_id_seq') as job_id
    from unnest($6::text[]) with ordinality as u (user_id, ord)
    order by u.ord
), job as (
    insert into jobs (id, name, service, namespace, user_id, priority, flow, cpu, memory, pods, storage,
                      input_blob_id, timeout_seconds, max_attempts, created_at, updated_at, created_by, one_off)
    select job_id, $1, $2, $3, user_id, $4, $5, $7, $8, $9, $10, $11, $12, $13, coalesce($15::timestamptz, now()),
           coalesce($15::timestamptz, now()), user_id, true
    from input
    order by job_id
    returning id, user_id, created_at
), run as (
    insert into runs (job_id, user_id, service, namespace, priority, flow, cpu, memory, pods, storage,
                      state, enqueued_at, admitted_at, max_attempts, input_blob_id, timeout_seconds, triggered_by)
    select id, user_id, $2, $3, $4, $5, $7, $8, $9, $10,
           $14, created_at, case when $14 = 'admitted' then created_at end, $13, $11, $12, 'api'
    from job
    order by id
    returning id, state, enqueued_at, user_id
), event as (
    insert into run_events (run_id, at, kind, actor, message)
    select id, enqueued_at, 'submitted', 'api', 'submitted by user ' || user_id || ' to service ' || $2 from run
    union all
    select id, enqueued_at, 'admitted', 'api', 'legacy flow: admitted on insert' from run where state = 'admitted'
)
select id from run order by id
