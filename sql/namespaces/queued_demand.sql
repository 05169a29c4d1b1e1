-- What the queued runs of each namespace ask for. $1 names to restrict to (null: all). No row locks.
select namespace as name, count(*)::bigint as runs,
       coalesce(sum(cpu), 0)::bigint as cpu, coalesce(sum(memory), 0)::bigint as memory,
       coalesce(sum(pods), 0)::bigint as pods, coalesce(sum(storage), 0)::bigint as storage
from runs
where state = 'queued' and namespace is not null and ($1::text[] is null or namespace = any($1::text[]))
group by namespace
