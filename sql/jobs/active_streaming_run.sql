-- The active run of a streaming job (at most one: runs_streaming_active), to name it when a second
-- start is refused. $1 job id. No row locks. Reads runs_streaming_active (its predicate, stated).
select id from runs
where job_id = $1 and restart is not null and state in ('waiting', 'queued', 'admitted', 'running')
