-- Whether $2 (subject) with groups $3 holds permission $4 on job $1 (berth_job_allows; admins are
-- not asked). $1 job id, $2 subject, $3 groups (text[]), $4 'view' | 'run' | 'update' | 'delete'.
-- No row locks. No row when the job does not exist.
select berth_job_allows(j.id, j.namespace, j.created_by, $2, $3, $4)
from jobs j
where j.id = $1
