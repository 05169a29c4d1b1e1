-- Locks the unfinished step runs of a workflow run in ascending id order (the order a step's end
-- locks its children in: see workflow_step_ended() in migration 0018), before workflows/cancel.sql
-- changes them. $1 workflow run id. Row locks: those runs (FOR UPDATE).
select r.id
from workflow_steps s
join runs r on r.id = s.run_id
where s.workflow_run_id = $1 and r.state in ('waiting', 'queued', 'admitted', 'running')
order by r.id
for update of r
