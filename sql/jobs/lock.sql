-- Locks a job that is not deleted against change and deletion until the transaction ends, and
-- reads it (the same columns as jobs/get.sql). $1 job id. Row locks: the job row, FOR SHARE (a
-- start waits for a replace or delete in flight, and they wait for it).
select j.id, j.name, j.description, j.kind, j.service, j.namespace, j.user_id, j.priority, j.flow,
       j.cpu, j.memory, j.pods, j.storage, j.input_blob_id, coalesce(b.size, 0) as input_bytes,
       j.command, j.args, j.env, j.timeout_seconds, j.max_attempts, j.retry_backoff_seconds,
       j.retry_backoff_max_seconds, j.tags, j.created_by, j.created_at, j.updated_at, j.one_off,
       j.restart,
       j.steps
from jobs j
left join blobs b on b.id = j.input_blob_id
where j.id = $1 and j.deleted_at is null
for share of j
