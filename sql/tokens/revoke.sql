-- Revokes token $1 (a revoked token stays revoked; revoking it again changes nothing).
-- $1 id. Row locks: the token row. Returns its id when it exists.
update tokens set revoked_at = coalesce(revoked_at, now())
where id = $1
returning id
