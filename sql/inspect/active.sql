-- Operator query: admitted and running runs with their worker and attempt. Each state through its
-- own partial index (runs_admitted, runs_running_worker); see migration 0010.
select r.id, r.state, r.namespace, r.user_id, r.service, r.worker_id, w.name as worker,
       w.heartbeat_at, r.attempt, r.attempt_id, r.admitted_at, r.started_at
from ((select * from runs where state = 'admitted' and admitted_at is not null)
      union all
      (select * from runs where state = 'running' and worker_id is not null)) r
left join workers w on w.id = r.worker_id
order by r.admitted_at;
