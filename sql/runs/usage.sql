-- Resources held by admitted and running runs, by namespace, priority and service (the leader's
-- usage gauges, berth_resources_in_use). No parameters. No row locks. Each branch names the
-- guard of its partial index, as the namespace_use view does.
select namespace, priority, service, count(*)::bigint as runs,
       sum(cpu)::bigint as cpu, sum(memory)::bigint as memory,
       sum(pods)::bigint as pods, sum(storage)::bigint as storage
from ((select namespace, priority, service, cpu, memory, pods, storage
       from runs where state = 'admitted' and admitted_at is not null)  -- runs_admitted
      union all
      (select namespace, priority, service, cpu, memory, pods, storage
       from runs where state = 'running' and worker_id is not null)  -- runs_running_worker
     ) active
group by namespace, priority, service
order by namespace, priority, service
