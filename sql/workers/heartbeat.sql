-- One heartbeat for a worker and all its runs. Returns nothing if the worker was marked stopped.
-- $1 worker_id, $2 now (nullable). Row locks: the worker row.
update workers set heartbeat_at = coalesce($2::timestamptz, now())
where id = $1 and stopped_at is null
returning id
