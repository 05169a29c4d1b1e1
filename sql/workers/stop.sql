-- Marks a worker stopped (clean exit). $1 worker_id, $2 now (nullable). Row locks: the worker row.
update workers set stopped_at = coalesce($2::timestamptz, now()) where id = $1
