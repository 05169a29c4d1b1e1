-- Every worker with its capacity, use (its running runs) and liveness.
-- $1 lease seconds, $2 now (nullable). No row locks.
select w.id, w.name, w.services, w.cpu, w.memory, w.pods, w.storage, w.started_at, w.heartbeat_at,
       w.stopped_at,
       (w.stopped_at is null
        and w.heartbeat_at > coalesce($2::timestamptz, now()) - make_interval(secs => $1)) as live,
       coalesce(u.cpu, 0)::bigint as used_cpu, coalesce(u.memory, 0)::bigint as used_memory,
       coalesce(u.pods, 0)::bigint as used_pods, coalesce(u.storage, 0)::bigint as used_storage
from workers w
left join lateral (
    select sum(cpu) as cpu, sum(memory) as memory, sum(pods) as pods, sum(storage) as storage
    from runs r
    where r.worker_id = w.id and r.worker_id is not null and r.state = 'running'
) u on true
order by w.id
