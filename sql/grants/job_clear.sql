-- Removes every grant on job $1 (before the new set is inserted, in one transaction).
-- $1 job id. Row locks: the job's grant rows.
delete from job_grants where job_id = $1
