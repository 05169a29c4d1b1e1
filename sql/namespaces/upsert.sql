-- Sets a namespace's quota, creating the namespace if needed. $1 name, $2 cpu, $3 memory, $4 pods,
-- $5 storage, $6 sharing (nullable: a new namespace gets 'fifo', an existing one keeps its own).
-- Row locks: the namespace row (an admission commit holding it makes this wait).
insert into namespaces (name, cpu_limit, memory_limit, pods_limit, storage_limit, sharing, updated_at)
values ($1, $2, $3, $4, $5, coalesce($6::text, 'fifo'), now())
on conflict (name) do update
set cpu_limit = excluded.cpu_limit, memory_limit = excluded.memory_limit,
    pods_limit = excluded.pods_limit, storage_limit = excluded.storage_limit,
    sharing = coalesce($6::text, namespaces.sharing), updated_at = now()
