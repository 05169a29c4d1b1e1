-- Creates a namespace with the default quota if it does not exist yet.
-- $1 name, $2 cpu, $3 memory, $4 pods, $5 storage. No row locks (insert ... on conflict do nothing).
insert into namespaces (name, cpu_limit, memory_limit, pods_limit, storage_limit)
values ($1, $2, $3, $4, $5)
on conflict (name) do nothing
