-- The queue view: queued runs in admission order (high first, then FIFO), with their block records.
-- $1 namespace (nullable: all), $2 priority (nullable: both), $3 most rows, $4 the caller's subject
-- (nullable: an admin, or auth off: every run visible), $5 the caller's groups. No row locks.
-- Reads the oldest $3 of each (namespace, priority) through `runs_queued_namespace`, then merges:
-- its cost is namespaces × $3, whatever the depth of any one queue. `visible` says whether the
-- caller may view the run (through its job); the API shows the others as positions only.
select q.id, q.user_id, q.service, q.namespace, q.priority, q.enqueued_at, q.head_since, q.not_before, q.block,
       ($4::text is null or berth_job_allows(j.id, j.namespace, j.created_by, $4, $5, 'view')) as visible
from namespaces n
cross join (values ('high'), ('normal')) as p (priority)
cross join lateral (
    select id, job_id, user_id, service, namespace, priority, enqueued_at, head_since, not_before, block
    from runs
    where state = 'queued' and namespace is not null and namespace = n.name and priority = p.priority
    order by enqueued_at, id
    limit $3
) q
join jobs j on j.id = q.job_id
where ($1::text is null or n.name = $1)
  and ($2::text is null or p.priority = $2)
order by q.priority, q.enqueued_at, q.id  -- 'high' sorts before 'normal'
limit $3
