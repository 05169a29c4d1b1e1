-- Commits a cycle's admissions in one statement: the fencing check, FOR UPDATE on the namespaces the
-- batch touches, the re-check of every admission against their quotas, the admissions with their
-- `admitted` events, a `stale_quota_retry` event for each refusal, and the WRR credits. Alone it is
-- its own transaction: one round trip per cycle instead of four (begin, lock, admit, commit).
-- $1 run ids bigint[] in decision order, $2 now (nullable), $3 credits high, $4 credits normal,
-- $5 epoch, $6 the batch's namespaces text[] with their use at the snapshot, element-wise:
-- $7 cpu, $8 memory, $9 pods, $10 storage (bigint[]).
-- Row locks: the leader row (FOR UPDATE: the credits are written to it; a takeover, which
-- updates it, cannot interleave), the namespace rows (FOR UPDATE, in name order), the run rows
-- (update).
-- Returns one row: the current epoch (when it is not $5, nothing was written), the runs admitted
-- and the runs refused.
--
-- The re-check. The quotas come from the locked rows: FOR UPDATE returns a row's latest committed
-- version (after waiting for a concurrent change), not the statement's snapshot. The use comes from
-- the cycle's snapshot, $7..$10: between the two only this leader adds to it (its own admissions,
-- which the cycle counts as it goes; a takeover changes the epoch and fails the check), and what
-- finished meanwhile only makes the snapshot's figure higher than it is, so the re-check never
-- overcommits. Legacy-flow runs also add to it (they are admitted on insert, unchecked): one
-- inserted between the snapshot and this statement is not counted here, as one inserted during
-- the old re-check's read was not either.
-- Reading the use again cost a scan of every admitted and running run per commit (10 ms per commit
-- with 3,000 in flight). A run is kept while the batch's runs of its namespace up to it, in
-- decision order, fit together: after a refusal the later runs of that namespace are refused too
-- (a quota that shrank under the plan is rare, and the next cycle starts at once).
-- A run no longer queued (cancelled meanwhile) is skipped without an event.
with fence as materialized (
    select epoch from leader where id = 1 for update
), locked as materialized (
    select n.name, n.cpu_limit, n.memory_limit, n.pods_limit, n.storage_limit,
           u.cpu as used_cpu, u.memory as used_memory, u.pods as used_pods, u.storage as used_storage
    from namespaces n
    join unnest($6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])
         as u (name, cpu, memory, pods, storage) on u.name = n.name
    where (select epoch from fence) = $5
    order by n.name
    for update of n
), batch as materialized (
    -- Each run by primary key (= ANY): as a join with the input, the planner may hash the whole
    -- runs table instead (measured: 8.6 of 24 ms for 600 runs out of 20,000).
    select r.id, r.namespace, b.ord,
           sum(r.cpu) over w as cpu, sum(r.memory) over w as memory,
           sum(r.pods) over w as pods, sum(r.storage) over w as storage
    from runs r
    join unnest($1::bigint[]) with ordinality as b (id, ord) on b.id = r.id
    where r.id = any($1::bigint[]) and r.state = 'queued' and (select epoch from fence) = $5
    window w as (partition by r.namespace order by b.ord)
), fits as (
    select b.id
    from batch b join locked l on l.name = b.namespace
    where l.used_cpu + b.cpu <= l.cpu_limit and l.used_memory + b.memory <= l.memory_limit
      and l.used_pods + b.pods <= l.pods_limit and l.used_storage + b.storage <= l.storage_limit
), admitted as (
    update runs
    set state = 'admitted', admitted_at = coalesce($2::timestamptz, now()), head_since = null, block = null
    where id = any(array(select id from fits)) and state = 'queued'
    returning id, admitted_at, enqueued_at
), event as (
    insert into run_events (run_id, at, kind, actor, message, details)
    select id, admitted_at, 'admitted', 'scheduler',
           'admitted after ' || round(extract(epoch from admitted_at - enqueued_at)::numeric, 3) || ' s in the queue',
           jsonb_build_object('wait_seconds', extract(epoch from admitted_at - enqueued_at))
    from admitted
    returning run_id
), stale as (
    insert into run_events (run_id, at, kind, actor, message)
    select id, coalesce($2::timestamptz, now()), 'stale_quota_retry', 'scheduler',
           'admission refused at commit: the namespace quota changed since the snapshot; kept at its place'
    from batch
    where id not in (select id from fits)
    returning run_id
), wrr as (
    update leader set wrr_high = $3, wrr_normal = $4 where id = 1 and epoch = $5
)
select (select epoch from fence) as epoch,
       array(select run_id from event order by run_id) as admitted,
       array(select run_id from stale order by run_id) as stale,
       -- Wakes the workers at commit (one notification per transaction).
       (select pg_notify('berth_admitted', '') where exists (select from event)) is not null as notified
