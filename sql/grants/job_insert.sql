-- Inserts grants on job $1, given as parallel arrays. $1 job id, $2 grantee kinds (text[]),
-- $3 grantees (text[]), $4 permissions (text[]), $5 granted by. No row locks.
insert into job_grants (job_id, grantee_kind, grantee, permission, granted_by)
select $1, k, g, p, $5
from unnest($2::text[], $3::text[], $4::text[]) as t (k, g, p)
on conflict do nothing
