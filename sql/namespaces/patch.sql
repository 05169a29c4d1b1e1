-- Changes some of an existing namespace's settings, keeping the others: each parameter left null
-- keeps the namespace's own. Never creates a namespace: no row returned when $1 does not exist.
-- $1 name, $2 cpu, $3 memory, $4 pods, $5 storage (nullable bigints), $6 sharing (nullable).
-- Row locks: the namespace row (an admission commit holding it makes this wait).
update namespaces
set cpu_limit = coalesce($2::bigint, cpu_limit), memory_limit = coalesce($3::bigint, memory_limit),
    pods_limit = coalesce($4::bigint, pods_limit), storage_limit = coalesce($5::bigint, storage_limit),
    sharing = coalesce($6::text, sharing), updated_at = now()
where name = $1
returning name
