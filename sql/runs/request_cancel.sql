-- Asks the worker running a run to stop it (it ends `cancelled`); the worker learns it at its next
-- heartbeat, or at once through NOTIFY berth_cancel. $1 run_id, $2 actor, $3 now (nullable).
-- Row locks: the run row.
with run as (
    update runs set cancel_requested = true
    where id = $1 and state = 'running' and not cancel_requested
    returning id
)
insert into run_events (run_id, at, kind, actor, message)
select id, coalesce($3::timestamptz, now()), 'cancel_requested', $2, 'cancellation requested; the worker will stop it'
from run
returning run_id
