-- One run with its job's name. $1 run_id. No row locks.
select r.id, r.job_id, j.name as job_name, r.user_id, r.service, r.namespace, r.priority, r.flow,
       r.cpu, r.memory, r.pods, r.storage, r.state, r.enqueued_at, r.admitted_at, r.started_at,
       r.finished_at, r.attempt, r.max_attempts, r.worker_id, r.exit_code, r.message,
       r.result_blob_id, r.block, r.not_before, r.lost_attempts
from runs r
join jobs j on j.id = r.job_id
where r.id = $1
