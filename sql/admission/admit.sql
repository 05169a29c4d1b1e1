-- Commits a cycle's admissions in one statement: the fencing check, FOR UPDATE on the namespaces the
-- batch touches, the re-check of every admission against their quotas, the admissions, a
-- `stale_quota_retry` event for each refusal, and the WRR credits. An admission's record is the
-- run's admitted_at (then its attempt's): the timeline shows it as the `admitted` event
-- (run_events/list.sql; migration 0023). Alone it is
-- its own transaction: one round trip per cycle instead of four (begin, lock, admit, commit).
-- $1 run ids bigint[] in decision order, $2 now (nullable), $3 credits high, $4 credits normal,
-- $5 epoch, then element-wise with $1: $6 the run's namespace (text[]), and $7 cpu, $8 memory,
-- $9 pods, $10 storage (bigint[]): its namespace's use if it is admitted, that is the use at the
-- snapshot plus the requests of the batch's runs of that namespace up to and including it;
-- $11 asynchronous (boolean): commit without waiting for the WAL flush (`synchronous_commit = off`
-- for this transaction only). True only when the statement is its own transaction
-- (`Store::admit`), never inside a leader transaction that also cancels runs.
-- Row locks: the leader row (FOR UPDATE: the credits are written to it; a takeover, which
-- updates it, cannot interleave), the namespace rows (FOR UPDATE, in name order), the run rows
-- (update).
-- Returns one row: the current epoch (when it is not $5, nothing was written), the runs admitted
-- and the runs refused.
--
-- The re-check. The quotas come from the locked rows: FOR UPDATE returns a row's latest committed
-- version (after waiting for a concurrent change), not the statement's snapshot. The use comes from
-- the cycle's snapshot and the requests the cycle read (a queued run's request does not change):
-- between the two only this leader adds to it (its own admissions, which the cycle counts as it
-- goes; a takeover changes the epoch and fails the check), and what finished meanwhile only makes
-- the snapshot's figure higher than it is, so the re-check never overcommits. Legacy-flow runs
-- also add to it (they are admitted on insert, unchecked): one inserted between the snapshot and
-- this statement is not counted here, as one inserted during the old re-check's read was not
-- either.
-- Reading the use again cost a scan of every admitted and running run per commit (10 ms per commit
-- with 3,000 in flight); reading the batch's runs for their requests cost 3 of 22 ms per 1,000
-- (docs/benchmarks.md, change 20). The use only grows along a namespace's runs, so after a refusal
-- the later runs of that namespace are refused too (a quota that shrank under the plan is rare,
-- and the next cycle starts at once).
-- A run no longer queued (cancelled meanwhile) is skipped without an event; its request still
-- counts in the re-check of the runs after it, which only errs towards refusing.
--
-- Why an admission may commit asynchronously (docs/state_machine.md, "Durability"): losing it in
-- a crash leaves the run `queued`, and the next leader admits it again; nothing outside the
-- database acts on it but a worker's claim, which commits synchronously and so flushes the WAL up
-- to its own commit record, past this one: no durable claim can follow a lost admission. It saves
-- one WAL flush (one disk round trip) between a priority-flow submit and its start.
with async as materialized (
    -- set_config(.., true) is SET LOCAL: it holds until this transaction commits, then reverts.
    select set_config('synchronous_commit', 'off', true) where $11::boolean
), fence as materialized (
    select epoch from leader where id = 1 for update
), locked as materialized (
    select n.name, n.cpu_limit, n.memory_limit, n.pods_limit, n.storage_limit
    from namespaces n
    where n.name = any($6::text[]) and (select epoch from fence) = $5
    order by n.name
    for update of n
), fits as (
    select b.id
    from unnest($1::bigint[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])
         as b (id, namespace, cpu, memory, pods, storage)
    join locked l on l.name = b.namespace
    where b.cpu <= l.cpu_limit and b.memory <= l.memory_limit
      and b.pods <= l.pods_limit and b.storage <= l.storage_limit
), admitted as (
    update runs
    set state = 'admitted', admitted_at = coalesce($2::timestamptz, now()), head_since = null, block = null
    where id = any(array(select id from fits)) and state = 'queued'
    returning id
), stale as (
    insert into run_events (run_id, at, kind, actor, message)
    select id, coalesce($2::timestamptz, now()), 'stale_quota_retry', 'scheduler',
           'admission refused at commit: the namespace quota changed since the snapshot; kept at its place'
    from runs
    -- Empty but on a refusal: by primary key, and only when the fencing check passed.
    where id = any(array(select unnest($1::bigint[]) except select id from fits))
      and state = 'queued' and (select epoch from fence) = $5
    returning run_id
), wrr as (
    update leader set wrr_high = $3, wrr_normal = $4 where id = 1 and epoch = $5
)
select (select epoch from fence) as epoch,
       array(select id from admitted order by id) as admitted,
       array(select run_id from stale order by run_id) as stale,
       (select count(*) from async) as asynchronous,
       -- Wakes the workers at commit (one notification per transaction).
       (select pg_notify('berth_admitted', '') where exists (select from admitted)) is not null as notified
