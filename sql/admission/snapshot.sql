-- The admission snapshot in one statement: one consistent view (the statement's) in one round
-- trip. It was a repeatable-read transaction of seven statements, and under load the round trips
-- were most of a cycle. $1 runs read per namespace and priority, $2 lease seconds. No row locks:
-- the leader is the only writer of queued runs' admission.
--
-- One row per queued run considered: the oldest $1 of each namespace and priority, so a backlog
-- blocked in one namespace never hides the runs of the others (runs_queued_namespace serves each
-- branch in order). Plain columns, not JSON: as JSON, 1,000 runs cost ~10 ms a cycle to encode.
-- No rows when nothing is queued, and then no ledger is computed: its cost grows with the
-- admitted and running runs, and a legacy-flow burn-down would pay it on every finish.
-- The first row carries the ledger: the namespaces' quotas and use, the runs per (user, service)
-- of the users queued here, the workers with their use and liveness, and the admitted runs no
-- worker has claimed yet by shape (they will take room on some worker, so the pool check
-- subtracts them first, oldest shape first).
with queued as materialized (
    select q.*
    from namespaces n
    cross join lateral (
        (select id, user_id, service, namespace, priority, cpu, memory, pods, storage, enqueued_at,
                head_since, head_retries, not_before
         from runs where state = 'queued' and namespace is not null and namespace = n.name and priority = 'high'
         order by enqueued_at, id limit $1)
        union all
        (select id, user_id, service, namespace, priority, cpu, memory, pods, storage, enqueued_at,
                head_since, head_retries, not_before
         from runs where state = 'queued' and namespace is not null and namespace = n.name and priority = 'normal'
         order by enqueued_at, id limit $1)
    ) q
)
select q.*, now() as now,
       -- The ledger rides on the first row only (JSON: a few rows per namespace, user and worker).
       case when row_number() over () = 1 then (
           select json_build_object(
               'namespaces', (select coalesce(json_agg(u order by u.name), '[]') from namespace_use u),
               'user_running', (select coalesce(json_agg(r), '[]') from user_running r
                                where (r.user_id, r.service) in (select user_id, service from queued)),
               'workers', (select coalesce(json_agg(w order by w.id), '[]')
                           from (select u.*, (u.stopped_at is null
                                              and u.heartbeat_at > now() - make_interval(secs => $2)) as live
                                 from worker_use u) w),
               'unclaimed', (select coalesce(json_agg(c order by c.first), '[]')
                             from (select service, cpu, memory, pods, storage, count(*) as runs,
                                          min(admitted_at) as first
                                   from runs
                                   where state = 'admitted' and admitted_at is not null  -- runs_admitted
                                   group by service, cpu, memory, pods, storage) c))
       ) end as ledger
from queued q
