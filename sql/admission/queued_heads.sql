-- The oldest queued run of each (user, service) of one namespace and priority but the capped
-- pairs: what a notification-driven cycle reads when the snapshot's read of that queue was full
-- and held a capped user's runs (scheduler/admission/capped.rs), so that another user's run queued
-- behind a capped backlog waits for the next cycle, not for the next tick.
-- $1 namespace, $2 priority, $3 most pairs returned, $4 most pairs visited, $5 capped users, $6
-- their services (same order).
-- A skip scan of runs_queued_user (migration 0025): each step of the recursion descends to the next
-- (user, service) pair after the last one and lands on that pair's oldest run, so a capped
-- backlog costs one descent however long it is. Pairs are taken in (user_id, service) order, up to
-- $3 returned and $4 visited (capped ones included); the once-per-tick cycle's read in queue order
-- (admission/queued_uncapped.sql) finds whatever these bounds leave out. At most $3 rows.
-- No row locks: the leader is the only writer of queued runs' admission.
with recursive heads as (
    (select id, user_id, service, namespace, priority, cpu, memory, pods, storage, enqueued_at,
            head_since, head_retries, not_before
     from runs
     where state = 'queued' and namespace is not null and namespace = $1 and priority = $2
     order by user_id, service, enqueued_at, id
     limit 1)
    union all
    select next.*
    from heads h
    cross join lateral (
        select r.id, r.user_id, r.service, r.namespace, r.priority, r.cpu, r.memory, r.pods, r.storage,
               r.enqueued_at, r.head_since, r.head_retries, r.not_before
        from runs r
        where r.state = 'queued' and r.namespace is not null and r.namespace = $1 and r.priority = $2
          and (r.user_id, r.service) > (h.user_id, h.service)
        order by r.user_id, r.service, r.enqueued_at, r.id
        limit 1
    ) next
), visited as (
    -- The recursion runs only as far as this LIMIT reads it.
    select * from heads limit $4
)
select v.*
from visited v
where not exists (select 1 from unnest($5::text[], $6::text[]) as c (user_id, service)
                  where c.user_id = v.user_id and c.service = v.service)
limit $3
