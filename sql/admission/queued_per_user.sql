-- The oldest queued runs of each user in one namespace and priority: what a fair namespace's
-- admission needs when its snapshot read was full, since a read in queue order shows the users
-- with the oldest runs and hides the others behind them (scheduler/admission/fair.rs).
-- $1 namespace, $2 priority, $3 runs to read in all (split evenly over the users found, at least
-- one each), $4 most users.
-- A skip scan of runs_queued_user: one index descent per user with queued runs (the recursive
-- part finds the next user after the last one), then each user's oldest runs from the same index.
-- The cost grows with the users, not with their backlogs. Users beyond $4 (in user_id order) are
-- not read this cycle; their oldest runs still come through the read in queue order.
-- No row locks: the leader is the only writer of queued runs' admission.
with recursive users (user_id) as (
    (select user_id
     from runs
     where state = 'queued' and namespace is not null and namespace = $1 and priority = $2
     order by user_id
     limit 1)
    union all
    select (select r.user_id
            from runs r
            where r.state = 'queued' and r.namespace is not null and r.namespace = $1 and r.priority = $2
              and r.user_id > u.user_id
            order by r.user_id
            limit 1)
    from users u
    where u.user_id is not null
), found as materialized (
    -- The recursion is evaluated only as far as this LIMIT reads it.
    select user_id from users where user_id is not null limit $4
)
select q.*
from found f
cross join lateral (
    select id, user_id, service, namespace, priority, cpu, memory, pods, storage, enqueued_at,
           head_since, head_retries, not_before
    from runs
    where state = 'queued' and namespace is not null and namespace = $1 and priority = $2
      and user_id = f.user_id
    order by enqueued_at, id
    limit greatest(1, $3 / greatest(1, (select count(*) from found)))
) q
