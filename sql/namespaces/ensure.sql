-- Creates the namespaces that do not exist yet (what configuration declares, and `default`), at
-- startup. $1 names text[], $2 cpu, $3 memory, $4 pods, $5 storage (bigint[], one per name).
-- No row locks (insert ... on conflict do nothing: an existing namespace keeps its quota).
insert into namespaces (name, cpu_limit, memory_limit, pods_limit, storage_limit)
select * from unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
on conflict (name) do nothing
