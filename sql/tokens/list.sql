-- Every token, newest first (never the secret: only its hash is stored, and it is not read here).
-- No parameters. No row locks.
select id, subject, kind, groups, admin, may_act_for_others, expires_at, last_used_at, revoked_at, created_at,
       created_by
from tokens
order by id desc
