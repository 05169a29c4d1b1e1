-- Whether $2 (subject) with groups $3 holds permission $4 on namespace $1 through a grant to
-- itself, one of its groups or `*`. $1 namespace, $2 subject, $3 groups (text[]),
-- $4 'create' | 'view'. No row locks.
select exists (
    select 1 from namespace_grants n
    where n.namespace = $1 and n.permission = $4
      and ((n.grantee_kind = 'user' and n.grantee = $2) or (n.grantee_kind = 'group' and n.grantee = any($3 || '*'::text)))
)
