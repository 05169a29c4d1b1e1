-- Creates the namespaces that do not exist yet (what configuration declares, and `default`), at
-- startup. $1 names text[], $2 cpu, $3 memory, $4 pods, $5 storage (bigint[], one per name), $6
-- sharing (text[]). No row locks (insert ... on conflict do nothing: an existing namespace keeps
-- its quota and sharing).
insert into namespaces (name, cpu_limit, memory_limit, pods_limit, storage_limit, sharing)
select * from unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[])
on conflict (name) do nothing
