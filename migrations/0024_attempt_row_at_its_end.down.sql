-- Back to a row per attempt from its claim on: the running attempts get theirs again.
drop view attempts_seen;
alter table attempts set (fillfactor = 50);

insert into attempts (id, run_id, worker_id, number, started_at, admitted_at)
select attempt_id, id, worker_id, attempt, started_at, case when flow = 'priority' then admitted_at end
from runs
where state = 'running' and attempt_id is not null and worker_id is not null
on conflict (id) do nothing;
