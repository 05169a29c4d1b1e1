-- What the admitted and running runs use, as views: per namespace (against its quota), per
-- (user, service) (against the per-user cap) and per worker (against its capacity). The admission
-- snapshot reads all three in one statement, the commit's re-check and the API's listings read
-- the same definitions. Each keeps the guard column its partial index needs (see 0007).
create view namespace_use as
select n.name, n.cpu_limit, n.memory_limit, n.pods_limit, n.storage_limit,
       coalesce(sum(r.cpu), 0)::bigint as used_cpu, coalesce(sum(r.memory), 0)::bigint as used_memory,
       coalesce(sum(r.pods), 0)::bigint as used_pods, coalesce(sum(r.storage), 0)::bigint as used_storage
from namespaces n
left join runs r on r.namespace = n.name and r.namespace is not null and r.state in ('admitted', 'running')
group by n.name;

create view user_running as
select user_id, service, count(*)::bigint as running
from runs
where state in ('admitted', 'running') and namespace is not null  -- runs_active
group by user_id, service;

create view worker_use as
select w.id, w.name, w.services, w.cpu, w.memory, w.pods, w.storage, w.started_at, w.heartbeat_at,
       w.stopped_at,
       coalesce(u.cpu, 0)::bigint as used_cpu, coalesce(u.memory, 0)::bigint as used_memory,
       coalesce(u.pods, 0)::bigint as used_pods, coalesce(u.storage, 0)::bigint as used_storage
from workers w
left join lateral (
    select sum(cpu) as cpu, sum(memory) as memory, sum(pods) as pods, sum(storage) as storage
    from runs r
    where r.worker_id = w.id and r.worker_id is not null and r.state = 'running'  -- runs_running_worker
) u on true;
