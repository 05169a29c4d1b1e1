-- The two oldest queued runs past a cut of each (user, service) of one namespace and priority but
-- the capped pairs: what a notification-driven cycle reads when the snapshot's read of that queue
-- was full and held a capped user's runs (scheduler/admission/capped.rs), so that another user's
-- run queued behind a capped backlog waits for the next cycle, not for the next tick.
-- $1 namespace, $2 priority, $3 most pairs visited, $4 capped users, $5 their services (same
-- order), $6 and $7 the cut: the (enqueued_at, id) of the snapshot's last run of this queue; only
-- runs after it are returned (null, null: from each pair's oldest run, for a fair namespace, whose
-- read is not a prefix of the queue). $8 now (the snapshot's): runs cooling down after a head
-- timeout are left out, as the snapshot leaves them out.
-- Why two: a pair's second run past the cut bounds what the read knows of that pair. Every run of
-- a pair not capped queued no later than the earliest such second run is in the snapshot or in
-- this read, so the cycle takes the runs up to there and stays in queue order among those pairs
-- (`capped::past_the_cut`).
-- A skip scan of runs_queued_user (migration 0025): each step of the recursion descends to the next
-- (user, service) pair after the last one, so a capped backlog costs one descent however long it
-- is, and each pair not capped one more descent to its runs past the cut. Pairs are taken in
-- (user_id, service) order, up to $3 visited (capped ones included): all of them, since any pair
-- may hold the oldest run; every row carries how many were visited, so the caller knows when
-- pairs may be left unread. At most 2 × $3 rows.
-- No row locks: the leader is the only writer of queued runs' admission.
with recursive pairs as (
    (select user_id, service
     from runs
     where state = 'queued' and namespace is not null and namespace = $1 and priority = $2
     order by user_id, service, enqueued_at, id
     limit 1)
    union all
    select next.user_id, next.service
    from pairs p
    cross join lateral (
        select r.user_id, r.service
        from runs r
        where r.state = 'queued' and r.namespace is not null and r.namespace = $1 and r.priority = $2
          and (r.user_id, r.service) > (p.user_id, p.service)
        order by r.user_id, r.service, r.enqueued_at, r.id
        limit 1
    ) next
), visited as (
    -- The recursion runs only as far as this LIMIT reads it.
    select * from pairs limit $3
), open as (
    select v.user_id, v.service
    from visited v
    where not exists (select 1 from unnest($4::text[], $5::text[]) as c (user_id, service)
                      where c.user_id = v.user_id and c.service = v.service)
)
select past.*, (select count(*) from visited) as visited
from open o
cross join lateral (
    select r.id, r.user_id, r.service, r.namespace, r.priority, r.cpu, r.memory, r.pods, r.storage,
           r.enqueued_at, r.head_since, r.head_retries, r.not_before
    from runs r
    where r.state = 'queued' and r.namespace is not null and r.namespace = $1 and r.priority = $2
      and r.user_id = o.user_id and r.service = o.service
      -- enqueued_at is never -infinity: without a cut, every run of the pair is past it.
      and (r.user_id, r.service, r.enqueued_at, r.id)
          > (o.user_id, o.service, coalesce($6::timestamptz, '-infinity'), coalesce($7::bigint, 0))
      and (r.not_before is null or r.not_before <= $8)
    -- runs_queued_user's own order, which no other index gives. Ordered by (enqueued_at, id)
    -- alone, a generic plan made from statistics where one user held nearly every run walked
    -- runs_queued_namespace past the cut and filtered by pair, through the capped backlog: up to
    -- 254 ms a read in `berth bench --scenario fairness`, 63 ms in a reproduction behind 100,000
    -- runs (0.9 and 0.4 ms in this order).
    order by r.user_id, r.service, r.enqueued_at, r.id
    limit 2
) past
-- With a cut, a read that reached its bound of pairs is of no use (pairs left unread may hold older
-- runs: `capped::past_the_cut` takes nothing from it): the per-pair reads are skipped.
where $6::timestamptz is null or (select count(*) from visited) < $3
