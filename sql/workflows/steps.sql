-- The steps of a workflow run with their runs, in the definition's order (their run ids were
-- drawn in that order). $1 workflow run id. No row locks.
select s.name, s.run_id, s.pending_parents, s.end_reason, r.job_id, r.state, r.attempt, r.enqueued_at,
       r.admitted_at, r.started_at, r.finished_at, r.message
from workflow_steps s
join runs r on r.id = s.run_id
where s.workflow_run_id = $1
order by s.run_id
