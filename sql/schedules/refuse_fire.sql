-- Records a workflow's fire as `refused` (schedules/refused.sql said its setter may no longer run
-- every step): it started nothing. $1 job id, $2 fire time. Row locks: the fire row, written by
-- this transaction's schedules/fire_batch.sql.
update schedule_fires set outcome = 'refused' where job_id = $1 and fire_at = $2
