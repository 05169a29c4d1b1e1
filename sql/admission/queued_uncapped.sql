-- The queued runs of one namespace and priority that users held by their own cap hid: the oldest
-- $4 runs of each of at most $3 (user, service) pairs but the capped pairs. Read when the
-- snapshot's read of that queue was full and held a capped user's runs
-- (scheduler/admission/capped.rs). $1 namespace, $2 priority, $3 most pairs, $4 runs per pair
-- (the largest per-user cap: more of a pair's runs could not start this cycle), $5 capped users,
-- $6 their services (same order). At most $3 × $4 rows.
-- A skip scan of runs_queued_user: the recursive part finds the next (user, service) pair after
-- the last one, one index descent per pair, so a capped user's backlog costs one descent however
-- long it is (the read walked the backlog's index entries in queue order before, which only the
-- once-per-tick cycle could afford). A run older than one read is either read too or behind $4 older runs of its own pair,
-- which its cap holds back anyway, so queue order among the runs that can start is kept. Pairs
-- beyond $3 (in (user_id, service) order) are read in a later pass or cycle.
-- No row locks: the leader is the only writer of queued runs' admission.
with recursive pairs (user_id, service) as (
    (select user_id, service
     from runs
     where state = 'queued' and namespace is not null and namespace = $1 and priority = $2
     order by user_id, service limit 1)
    union all
    select next.user_id, next.service
    from pairs
    cross join lateral (
        select r.user_id, r.service
        from runs r
        where r.state = 'queued' and r.namespace is not null and r.namespace = $1 and r.priority = $2
          and (r.user_id, r.service) > (pairs.user_id, pairs.service)
        order by r.user_id, r.service limit 1
    ) next
), found as materialized (
    -- The recursion runs only as far as this LIMIT reads it.
    select p.user_id, p.service
    from pairs p
    where not exists (select 1 from unnest($5::text[], $6::text[]) as c (user_id, service)
                      where c.user_id = p.user_id and c.service = p.service)
    limit $3
)
select r.*
from found f
cross join lateral (
    select id, user_id, service, namespace, priority, cpu, memory, pods, storage, enqueued_at,
           head_since, head_retries, not_before
    from runs
    where state = 'queued' and namespace is not null and namespace = $1 and priority = $2
      and user_id = f.user_id and service = f.service
    order by enqueued_at, id
    limit $4
) r
