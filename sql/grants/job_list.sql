-- The grants on job $1, by grantee. $1 job id. No row locks.
select grantee_kind, grantee, permission, granted_by, granted_at
from job_grants
where job_id = $1
order by grantee_kind, grantee, permission
