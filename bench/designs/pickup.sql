-- The `placement` design's worker side: the runs placed on it that it has not started yet, read
-- (not written). $1 worker_id, $2 the attempt ids it already runs.
select r.id, r.attempt_id, r.cpu, r.memory, r.pods, r.storage, r.service, r.max_attempts, r.input_blob_id,
       r.command, r.env, r.timeout_seconds, r.restart, r.workflow_run_id
from runs r
where r.worker_id = $1 and r.state = 'running' and r.attempt_id <> all($2::bigint[])
order by r.id
