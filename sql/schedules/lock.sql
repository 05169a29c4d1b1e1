-- Locks the schedule of job $1, if it has one, before a job delete locks the job: every
-- transaction that takes both takes the schedule first (a schedule pass locks its schedules, then
-- FOR SHARE the jobs that fire: schedules/fire_batch.sql), so the two never wait on each other
-- in a cycle. Row locks: the schedule row (for update).
select job_id from schedules where job_id = $1 for update
