-- Operator query: queued runs per namespace and priority, oldest first, with why they wait.
-- Run by hand: psql "$DATABASE_URL" -f sql/inspect/queue.sql
select namespace, priority, id, user_id, service, enqueued_at,
       now() - enqueued_at as waiting, head_since, block ->> 'message' as why
from runs
where state = 'queued'
order by namespace, priority, enqueued_at, id;
