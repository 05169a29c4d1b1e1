-- One workflow run with its job's name. $1 workflow run id. No row locks.
select w.id, w.job_id, j.name as job_name, w.namespace, w.user_id, w.state, w.steps_total, w.steps_left,
       w.steps_succeeded, w.steps_failed, w.steps_cancelled, w.cancel_requested, w.triggered_by,
       w.created_at, w.finished_at
from workflow_runs w
join jobs j on j.id = w.job_id
where w.id = $1
