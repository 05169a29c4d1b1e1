-- Admits queued runs, with their `admitted` event, and persists the WRR credits after the cycle.
-- A run no longer queued (cancelled meanwhile) is skipped. $1 run ids bigint[] (may be empty),
-- $2 now (nullable), $3 credits high, $4 credits normal, $5 epoch.
-- Row locks: the run rows and the leader row (update). Called after admission/lock_ledger.sql in
-- the same transaction.
with admitted as (
    update runs
    set state = 'admitted', admitted_at = coalesce($2::timestamptz, now()), head_since = null, block = null
    where id = any($1::bigint[]) and state = 'queued'
    returning id, admitted_at, enqueued_at
), event as (
    insert into run_events (run_id, at, kind, actor, message, details)
    select id, admitted_at, 'admitted', 'scheduler',
           'admitted after ' || round(extract(epoch from admitted_at - enqueued_at)::numeric, 3) || ' s in the queue',
           jsonb_build_object('wait_seconds', extract(epoch from admitted_at - enqueued_at))
    from admitted
    returning run_id
), wrr as (
    update leader set wrr_high = $3, wrr_normal = $4 where id = 1 and epoch = $5
)
-- Wakes the workers at commit (one notification per transaction, however many rows call it).
select run_id, pg_notify('berth_admitted', '') from event
