create index runs_active on runs (namespace, user_id, service)
    where state in ('admitted', 'running') and namespace is not null;

create view user_running as
select user_id, service, count(*)::bigint as running
from runs
where state in ('admitted', 'running') and namespace is not null  -- runs_active
group by user_id, service;

create or replace view namespace_use as
select n.name, n.cpu_limit, n.memory_limit, n.pods_limit, n.storage_limit,
       coalesce(sum(r.cpu), 0)::bigint as used_cpu, coalesce(sum(r.memory), 0)::bigint as used_memory,
       coalesce(sum(r.pods), 0)::bigint as used_pods, coalesce(sum(r.storage), 0)::bigint as used_storage
from namespaces n
left join runs r on r.namespace = n.name and r.namespace is not null and r.state in ('admitted', 'running')
group by n.name;

alter table runs drop constraint runs_running_has_worker;
alter table runs drop constraint runs_admitted_has_time;
