-- The queued runs the leader considers this cycle: the oldest $1 of each namespace and priority,
-- so a backlog blocked in one namespace never hides the runs of the others (index
-- runs_queued_namespace serves each branch in order). No row locks: the leader is the only writer
-- of queued runs' admission.
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
