-- Back to migration 0010's view: sums that fail past the largest bigint.
create or replace view namespace_use as
select n.name, n.cpu_limit, n.memory_limit, n.pods_limit, n.storage_limit,
       coalesce(sum(r.cpu), 0)::bigint as used_cpu, coalesce(sum(r.memory), 0)::bigint as used_memory,
       coalesce(sum(r.pods), 0)::bigint as used_pods, coalesce(sum(r.storage), 0)::bigint as used_storage
from namespaces n
left join ((select namespace, cpu, memory, pods, storage
            from runs where state = 'admitted' and admitted_at is not null)  -- runs_admitted
           union all
           (select namespace, cpu, memory, pods, storage
            from runs where state = 'running' and worker_id is not null)  -- runs_running_worker
          ) r on r.namespace = n.name
group by n.name;
