-- The schedule of a job. $1 job id. No row locks.
select * from schedules where job_id = $1
