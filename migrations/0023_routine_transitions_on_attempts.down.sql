-- Back to event rows for every start and for the batched ends (their ids now follow the
-- migration's order, not the original one).
insert into run_events (run_id, at, kind, actor, message, details)
select run_id, started_at, 'started', 'worker', 'attempt ' || number || ' started on worker ' || worker_id,
       jsonb_build_object('attempt', number, 'attempt_id', id, 'worker_id', worker_id)
from attempts
order by id;

insert into run_events (run_id, at, kind, actor, message, details)
select run_id, finished_at, outcome, 'worker', message, jsonb_build_object('exit_code', exit_code, 'attempt_id', id)
from attempts
where message is not null and finished_at is not null
order by id;

alter table attempts drop column message;
