-- The queue view: queued runs with their block records, as admission reads them. $1 namespace
-- (nullable: all), $2 priority (nullable: both), $3 most rows, $4 the caller's subject (nullable:
-- an admin, or auth off: every run visible), $5 the caller's groups, $6 the admission snapshot's
-- read size (a fair namespace is read as the snapshot reads it). No row locks.
-- A `fifo` namespace: the oldest $3 of each priority through `runs_queued_namespace`. A `fair` one:
-- what the admission snapshot reads of it (berth_queued_fair, migration 0026), with the runs
-- cooling down after a head timeout too (`cooling`: admission does not read them, and they keep
-- their places), and `active`, each user's runs admitted or running in the namespace, from which
-- the caller puts the rest in fair order (api/queue.rs, scheduler/admission/fair.rs).
-- Rows in queue order, (priority, enqueued_at, id): the first $3 and every fair namespace's, since
-- fair order moves a namespace's runs only among the places they hold; the caller keeps the first
-- $3 once in admission order.
-- The cost is namespaces × ($3 or $6), whatever the depth of any one queue, plus one read of the
-- admitted and running runs when a fair namespace is shown. `visible` says whether the caller may
-- view the run (through its job); the API shows the others as positions only.
with queues as (
    select n.name, n.sharing, p.priority
    from namespaces n
    cross join (values ('high'), ('normal')) as p (priority)
    where ($1::text is null or n.name = $1)
      and ($2::text is null or p.priority = $2)
), read as (
    select q.*, n.sharing = 'fair' as fair
    from queues n
    cross join lateral (
        (select id, job_id, user_id, service, namespace, priority, enqueued_at, head_since, not_before, block
         from runs
         where n.sharing = 'fifo'
           and state = 'queued' and namespace is not null and namespace = n.name and priority = n.priority
         order by enqueued_at, id
         limit $3)
        union all
        (select id, job_id, user_id, service, namespace, priority, enqueued_at, head_since, not_before, block
         from berth_queued_fair(n.name, n.priority, $6, 'infinity')
         where n.sharing = 'fair')
    ) q
), ranked as (
    select r.*, row_number() over (order by r.priority, r.enqueued_at, r.id) as place
    from read r
), active as (
    -- Read only when a fair namespace is shown (a one-time filter).
    select namespace, user_id, count(*) as active
    from ((select namespace, user_id from runs where state = 'admitted' and admitted_at is not null)  -- runs_admitted
          union all
          (select namespace, user_id from runs where state = 'running' and worker_id is not null)  -- runs_running_worker
         ) a
    where exists (select 1 from queues where sharing = 'fair')
      and namespace in (select name from queues where sharing = 'fair')
    group by namespace, user_id
)
select r.id, r.user_id, r.service, r.namespace, r.priority, r.enqueued_at, r.head_since, r.not_before, r.block,
       r.fair, coalesce(a.active, 0) as active, coalesce(r.not_before > now(), false) as cooling,
       ($4::text is null or berth_job_allows(j.id, j.namespace, j.created_by, $4, $5, 'view')) as visible
from ranked r
join jobs j on j.id = r.job_id
left join active a on r.fair and a.namespace = r.namespace and a.user_id = r.user_id
where r.place <= $3 or r.fair
order by r.priority, r.enqueued_at, r.id  -- 'high' sorts before 'normal'
