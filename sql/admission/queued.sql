-- The queued runs the leader considers this cycle, oldest first per priority.
-- $1 most runs per priority. No row locks (the leader is the only writer of queued runs' admission).
(select id, user_id, service, namespace, priority, cpu, memory, pods, storage, enqueued_at,
        head_since, head_retries, not_before
 from runs where state = 'queued' and priority = 'high' order by enqueued_at, id limit $1)
union all
(select id, user_id, service, namespace, priority, cpu, memory, pods, storage, enqueued_at,
        head_since, head_retries, not_before
 from runs where state = 'queued' and priority = 'normal' order by enqueued_at, id limit $1)
