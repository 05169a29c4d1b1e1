-- Resources held by admitted and running runs, by namespace, priority and service (the leader's
-- usage gauges, berth_resources_in_use). No parameters. No row locks. Each branch names the
-- guard of its partial index, as the namespace_use view does. Each sum saturates at the largest
-- bigint (requests near that limit, under a quota as large, could overflow it).
select namespace, priority, service, count(*)::bigint as runs,
       least(sum(cpu), 9223372036854775807)::bigint as cpu, least(sum(memory), 9223372036854775807)::bigint as memory,
       least(sum(pods), 9223372036854775807)::bigint as pods, least(sum(storage), 9223372036854775807)::bigint as storage
from ((select namespace, priority, service, cpu, memory, pods, storage
       from runs where state = 'admitted' and admitted_at is not null)  -- runs_admitted
      union all
      (select namespace, priority, service, cpu, memory, pods, storage
       from runs where state = 'running' and worker_id is not null)  -- runs_running_worker
     ) active
group by namespace, priority, service
order by namespace, priority, service
