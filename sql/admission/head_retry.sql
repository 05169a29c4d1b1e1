-- A head-timeout retry: the run cools down until $2 and keeps its place. $1 run_id,
-- $2 not_before, $3 retries used, $4 message, $5 now (nullable). Row locks: the run row.
with run as (
    update runs set not_before = $2, head_retries = $3, head_since = null
    where id = $1 and state = 'queued'
    returning id
)
insert into run_events (run_id, at, kind, actor, message, details)
select id, coalesce($5::timestamptz, now()), 'head_timeout_retry', 'scheduler', $4,
       jsonb_build_object('retries', $3, 'not_before', $2)
from run
