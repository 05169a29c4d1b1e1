-- A job's history of changes, oldest first. $1 job id. No row locks.
select id, at, kind, actor, changes from job_events where job_id = $1 order by id
