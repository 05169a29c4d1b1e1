-- The caller behind a bearer token: the token with hash $1, unless revoked or expired (by the
-- database clock). Records its use at most once a minute, so that most requests write nothing.
-- $1 hash. Row locks: the token row, only when its last use is older than a minute.
with found as (
    select id, subject, kind, groups, admin, may_act_for_others
    from tokens
    where hash = $1 and revoked_at is null and (expires_at is null or expires_at > now())
), touch as (
    update tokens t set last_used_at = now()
    from found f
    where t.id = f.id and (t.last_used_at is null or t.last_used_at < now() - interval '1 minute')
)
select id, subject, kind, groups, admin, may_act_for_others from found
