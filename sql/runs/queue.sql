-- The queue view: queued runs in admission order (high first, then FIFO), with their block records.
-- $1 namespace (nullable: all), $2 priority (nullable: both), $3 most rows. No row locks.
select id, user_id, service, namespace, priority, enqueued_at, head_since, not_before, block
from runs
where state = 'queued'
  and ($1::text is null or namespace = $1)
  and ($2::text is null or priority = $2)
order by priority, enqueued_at, id  -- 'high' sorts before 'normal'
limit $3
