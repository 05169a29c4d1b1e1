-- Admitted and running runs per (user, service): what the per-user cap counts.
-- No row locks.
select user_id, service, count(*)::bigint as running
from runs
where state in ('admitted', 'running') and namespace is not null  -- matches runs_active
group by user_id, service
