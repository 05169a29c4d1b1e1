-- Records that admitting these runs was refused at commit because the snapshot was stale; the runs
-- stay queued at their place. $1 run ids bigint[], $2 messages text[], $3 now (nullable).
-- No row locks.
insert into run_events (run_id, at, kind, actor, message)
select id, coalesce($3::timestamptz, now()), 'stale_quota_retry', 'scheduler', message
from unnest($1::bigint[], $2::text[]) as s (id, message)
