-- Operator query: admitted and running runs with their worker and attempt.
select r.id, r.state, r.namespace, r.user_id, r.service, r.worker_id, w.name as worker,
       w.heartbeat_at, r.attempt, r.attempt_id, r.admitted_at, r.started_at
from runs r
left join workers w on w.id = r.worker_id
where r.state in ('admitted', 'running')
order by r.admitted_at;
