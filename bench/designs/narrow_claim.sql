-- The `narrow` and `graphile` designs' claim: the oldest free rows of the narrow queue locked and
-- taken by the worker (a fencing token drawn per row), the payload read from the run's row, which
-- stays as it is. $1 worker_id, $2 services, $3 most runs.
with candidates as materialized (
    select run_id from design_ready
    where worker_id is null and admitted_at >= '-infinity' and service = any($2::text[])
    order by admitted_at, run_id
    limit $3
    for update skip locked
), claimed as (
    update design_ready q set worker_id = $1, attempt_id = nextval('attempts_id_seq'), started_at = now()
    from candidates c where q.run_id = c.run_id
    returning q.run_id, q.attempt_id
)
select r.id, claimed.attempt_id, r.cpu, r.memory, r.pods, r.storage, r.service, r.max_attempts, r.input_blob_id,
       r.command, r.env, r.timeout_seconds, r.restart, r.workflow_run_id
from claimed join runs r on r.id = claimed.run_id
order by r.id
