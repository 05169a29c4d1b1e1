-- The quota use per namespace saturates at the largest bigint instead of failing. Legacy-flow runs
-- are admitted on insert, each checked against the quota alone: under a quota near that limit
-- (an operator's "unlimited"), two such requests could sum past it, and every read of the view
-- (what a submission and the admission read) failed with "bigint out of range".
create or replace view namespace_use as
select n.name, n.cpu_limit, n.memory_limit, n.pods_limit, n.storage_limit,
       least(coalesce(sum(r.cpu), 0), 9223372036854775807)::bigint as used_cpu,
       least(coalesce(sum(r.memory), 0), 9223372036854775807)::bigint as used_memory,
       least(coalesce(sum(r.pods), 0), 9223372036854775807)::bigint as used_pods,
       least(coalesce(sum(r.storage), 0), 9223372036854775807)::bigint as used_storage
from namespaces n
left join ((select namespace, cpu, memory, pods, storage
            from runs where state = 'admitted' and admitted_at is not null)  -- runs_admitted
           union all
           (select namespace, cpu, memory, pods, storage
            from runs where state = 'running' and worker_id is not null)  -- runs_running_worker
          ) r on r.namespace = n.name
group by n.name;
