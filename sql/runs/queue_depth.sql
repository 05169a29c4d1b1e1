-- Queued runs per namespace and priority (the console's overview). No parameters. No row locks.
-- Counts through `runs_queued_namespace` (the guard `namespace is not null` is its own).
select namespace, priority, count(*)::bigint as queued
from runs
where state = 'queued' and namespace is not null
group by namespace, priority
order by namespace, priority
