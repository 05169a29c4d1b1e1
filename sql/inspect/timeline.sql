-- Operator query: one run's timeline, as the API shows it: event rows, and the scheduler's
-- admissions, the starts and the reported ends its run and attempt rows carry (the same query as
-- sql/run_events/list.sql, which documents it). psql -v run=42 -f sql/inspect/timeline.sql
with run as (
    select id, enqueued_at, admitted_at, flow from runs where id = :run
), recorded as (
    select id, at, kind, actor, message, details from run_events where run_id = :run
), admissions as (
    select a.admitted_at as at, a.id as seq from attempts_seen a where a.run_id = :run and a.admitted_at is not null
    union all
    select r.admitted_at, 9223372036854775807 from run r
    where r.flow = 'priority' and r.admitted_at is not null
      and not exists (select from attempts_seen a where a.run_id = :run and a.admitted_at = r.admitted_at)
)
select at, kind, actor, message, details
from (
    select at, kind, actor, message, details, 0 as source, id as seq, 0 as phase from recorded
    union all
    select adm.at, 'admitted', 'scheduler',
           'admitted after ' || round(extract(epoch from adm.at - r.enqueued_at)::numeric, 3) || ' s in the queue',
           jsonb_build_object('wait_seconds', extract(epoch from adm.at - r.enqueued_at)), 1, adm.seq, -1
    from admissions adm cross join run r
    where not exists (select from recorded e where e.kind = 'admitted' and e.at = adm.at)
    union all
    select started_at, 'started', 'worker', 'attempt ' || number || ' started on worker ' || worker_id,
           jsonb_build_object('attempt', number, 'attempt_id', id, 'worker_id', worker_id), 1, id, 0
    from attempts_seen where run_id = :run
    union all
    select finished_at, outcome, 'worker', message, jsonb_build_object('exit_code', exit_code, 'attempt_id', id), 1, id, 1
    from attempts_seen where run_id = :run and message is not null and finished_at is not null
) timeline
order by at, source, seq, phase;
