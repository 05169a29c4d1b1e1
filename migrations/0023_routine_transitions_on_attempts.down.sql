-- Back to event rows for every start, for the batched ends and for the scheduler's admissions
-- (their ids now follow the migration's order, not the original one).
insert into run_events (run_id, at, kind, actor, message, details)
select a.run_id, a.admitted_at, 'admitted', 'scheduler',
       'admitted after ' || round(extract(epoch from a.admitted_at - r.enqueued_at)::numeric, 3) || ' s in the queue',
       jsonb_build_object('wait_seconds', extract(epoch from a.admitted_at - r.enqueued_at))
from attempts a join runs r on r.id = a.run_id
where a.admitted_at is not null
  and not exists (select from run_events e where e.run_id = a.run_id and e.kind = 'admitted' and e.at = a.admitted_at)
order by a.id;

insert into run_events (run_id, at, kind, actor, message, details)
select r.id, r.admitted_at, 'admitted', 'scheduler',
       'admitted after ' || round(extract(epoch from r.admitted_at - r.enqueued_at)::numeric, 3) || ' s in the queue',
       jsonb_build_object('wait_seconds', extract(epoch from r.admitted_at - r.enqueued_at))
from runs r
where r.flow = 'priority' and r.admitted_at is not null
  and not exists (select from attempts a where a.run_id = r.id and a.admitted_at = r.admitted_at)
  and not exists (select from run_events e where e.run_id = r.id and e.kind = 'admitted' and e.at = r.admitted_at)
order by r.id;

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

alter table attempts drop column message, drop column admitted_at;
