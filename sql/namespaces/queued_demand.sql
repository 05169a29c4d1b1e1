-- What the queued runs of each namespace ask for. $1 names to restrict to (null: all). No row locks.
-- Each sum saturates at the largest bigint: requests are checked against the quota one by one, so
-- with a quota near that limit the queued runs' sum can exceed it (it would be a 500, not a figure).
select namespace as name, count(*)::bigint as runs,
       least(coalesce(sum(cpu), 0), 9223372036854775807)::bigint as cpu,
       least(coalesce(sum(memory), 0), 9223372036854775807)::bigint as memory,
       least(coalesce(sum(pods), 0), 9223372036854775807)::bigint as pods,
       least(coalesce(sum(storage), 0), 9223372036854775807)::bigint as storage
from runs
where state = 'queued' and namespace is not null and ($1::text[] is null or namespace = any($1::text[]))
group by namespace
