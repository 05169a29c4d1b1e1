-- The admission snapshot in one statement: one consistent view (the statement's) in one round
-- trip. It was a repeatable-read transaction of seven statements, and under load the round trips
-- were most of a cycle. $1 runs read per namespace and priority, $2 lease seconds, $3 now
-- (nullable: the database clock). No row locks: the leader is the only writer of queued runs'
-- admission.
--
-- A run cooling down after a head timeout (not_before later than now) is not read: it can take no
-- slot and blocks nothing, and read, it took a place that a run it hides could use. A read full of
-- cooling runs hid every run behind them from every cycle until they cooled, since no user counted
-- as held by their cap (scheduler/admission/capped.rs). Its block record, written by the cycle
-- that timed it out, says until when it cools.
--
-- One row per queued run considered: the oldest $1 of each namespace and priority, so a backlog
-- blocked in one namespace never hides the runs of the others (runs_queued_namespace serves each
-- branch in order); in a namespace that shares fairly between users, each (user, service)'s
-- oldest runs (runs_queued_user). Plain columns, not JSON: as JSON, 1,000 runs cost ~10 ms a
-- cycle to encode.
-- No rows when nothing is queued, and then no ledger is computed: its cost grows with the
-- admitted and running runs, and a legacy-flow burn-down would pay it on every finish.
-- The first row carries the ledger: the namespaces' quotas and sharing and the live workers'
-- capacity (heartbeat within the lease $2), as JSON (a few rows), and the admitted and running
-- runs grouped by what tells them apart in the ledger (namespace, user, service, state, worker
-- and request), as one array per column (`active_*`, element-wise): as JSON, 677 groups cost
-- ~2 ms a cycle to build and parse. One read of those runs, through runs_admitted and
-- runs_running_worker (migration 0010), serves every scope: the leader sums the groups per
-- namespace, per (user, service), per worker, and the admitted runs no worker has claimed yet per
-- shape (they will take room on some worker, so the pool check subtracts them first, oldest shape
-- first). It was four scans of the same runs through three views and runs_admitted
-- (docs/benchmarks.md, change 15). The ledger is computed once, on the first queued row, and not
-- at all when nothing is queued.
with queued as materialized (
    select q.*
    from namespaces n
    cross join (values ('high'::text), ('normal'::text)) as p (priority)
    cross join lateral (
        -- A fifo namespace (each branch runs only for its own sharing: a one-time filter).
        (select id, user_id, service, namespace, priority, cpu, memory, pods, storage, enqueued_at,
                head_since, head_retries, not_before
         from runs
         where n.sharing = 'fifo'
           and state = 'queued' and namespace is not null and namespace = n.name and priority = p.priority
           and (not_before is null or not_before <= coalesce($3::timestamptz, now()))
         order by enqueued_at, id limit $1)
        union all
        -- A fair namespace: each (user, service)'s oldest runs, $1 split evenly over at most $1
        -- pairs, through runs_queued_user (migration 0026 says how; the queue view reads the same).
        (select id, user_id, service, namespace, priority, cpu, memory, pods, storage, enqueued_at,
                head_since, head_retries, not_before
         from berth_queued_fair(n.name, p.priority, $1, coalesce($3::timestamptz, now()))
         where n.sharing = 'fair')
    ) q
), ledger as materialized (
    select (select coalesce(json_agg(n order by n.name), '[]')
            from (select name, cpu_limit, memory_limit, pods_limit, storage_limit, sharing from namespaces) n) as quotas,
           (select coalesce(json_agg(w order by w.id), '[]')
            from (select id, services, cpu, memory, pods, storage
                  from workers
                  where stopped_at is null and heartbeat_at > now() - make_interval(secs => $2)) w) as workers,
           coalesce(array_agg(a.namespace), '{}') as active_namespace,
           coalesce(array_agg(a.user_id), '{}') as active_user_id,
           coalesce(array_agg(a.service), '{}') as active_service,
           coalesce(array_agg(a.state), '{}') as active_state,
           coalesce(array_agg(a.worker_id), '{}') as active_worker_id,
           coalesce(array_agg(a.cpu), '{}') as active_cpu,
           coalesce(array_agg(a.memory), '{}') as active_memory,
           coalesce(array_agg(a.pods), '{}') as active_pods,
           coalesce(array_agg(a.storage), '{}') as active_storage,
           coalesce(array_agg(a.runs), '{}') as active_runs,
           coalesce(array_agg(a.first), '{}') as active_first
    from (select namespace, user_id, service, state, worker_id, cpu, memory, pods, storage,
                 count(*) as runs, min(admitted_at) as first
          from ((select namespace, user_id, service, state, worker_id, cpu, memory, pods, storage, admitted_at
                 from runs
                 where state = 'admitted' and admitted_at is not null)  -- runs_admitted
                union all
                (select namespace, user_id, service, state, worker_id, cpu, memory, pods, storage, admitted_at
                 from runs
                 where state = 'running' and worker_id is not null)  -- runs_running_worker
               ) active
          group by namespace, user_id, service, state, worker_id, cpu, memory, pods, storage) a
)
select q.*, now() as now, l.*
from (select queued.*, row_number() over () as n from queued) q
-- Only the first row reads the ledger (a CTE is computed when first read): no queued run, no ledger.
-- OFFSET 0 keeps the subquery whole, so `q.n = 1` is a one-time filter above the ledger's scan.
-- Without it the planner pulls the subquery up and checks `q.n = 1` as a join filter after reading
-- the ledger's row for every queued run: 1,000 copies of a row of arrays, 7 of 12 ms per snapshot
-- at 1,000 queued and 3,000 admitted or running runs (docs/benchmarks.md, "Session 13").
left join lateral (select * from ledger where q.n = 1 offset 0) l on true
