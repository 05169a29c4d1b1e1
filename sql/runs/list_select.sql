-- (A fragment, not a whole statement: the select of a run with its job's name, which runs/get
-- finishes with `where r.id = $1` and the dynamic run list in store/lists.rs with its filters.)
-- No row locks.
select r.id, r.job_id, j.name as job_name, r.user_id, r.service, r.namespace, r.priority, r.flow,
       r.cpu, r.memory, r.pods, r.storage, r.state, r.enqueued_at, r.admitted_at, r.started_at,
       r.finished_at, r.attempt, r.max_attempts, r.worker_id, r.exit_code, r.message,
       r.result_blob_id, r.block, r.not_before, r.lost_attempts, r.triggered_by,
       r.cancel_requested, r.restart, r.submission_attempts, r.execution_attempts, r.submission_failures,
       r.execution_failures, r.workflow_run_id
from runs r
join jobs j on j.id = r.job_id
