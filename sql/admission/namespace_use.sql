-- Every namespace's quota and what its admitted and running runs use.
-- $1 names to restrict to (null: all). Row locks: none, or FOR UPDATE of the namespace rows when
-- called as admission/lock_namespaces.sql.
select n.name, n.cpu_limit, n.memory_limit, n.pods_limit, n.storage_limit,
       coalesce(sum(r.cpu), 0)::bigint as used_cpu, coalesce(sum(r.memory), 0)::bigint as used_memory,
       coalesce(sum(r.pods), 0)::bigint as used_pods, coalesce(sum(r.storage), 0)::bigint as used_storage
from namespaces n
left join runs r on r.namespace = n.name and r.namespace is not null and r.state in ('admitted', 'running')
where $1::text[] is null or n.name = any($1::text[])
group by n.name
order by n.name
