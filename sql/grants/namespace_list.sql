-- The grants on namespace $1, by grantee. $1 namespace. No row locks.
select grantee_kind, grantee, permission, granted_by, granted_at
from namespace_grants
where namespace = $1
order by grantee_kind, grantee, permission
