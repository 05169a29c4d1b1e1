-- A run's timeline in order: its event rows, and the routine transitions its own rows carry
-- (migration 0023), which have no event id:
-- - the scheduler's admissions: each attempt's admitted_at, and the run's admitted_at while no
--   attempt was claimed from it (a priority-flow run admitted, or cancelled while admitted);
-- - each attempt's start (the running attempt's from its run's row: the view attempts_seen,
--   migration 0024);
-- - the end its worker reported through the batched end (an attempt with a message).
-- An admission that is also an event row (from before migration 0023) is not read twice.
-- Ordered by time; at the same instant rows come first in insertion order, then each attempt's
-- admission, start and end, then the run's pending admission.
-- $1 run_id. No row locks.
with run as (
    select id, enqueued_at, admitted_at, flow from runs where id = $1
), recorded as (
    select id, at, kind, actor, message, details from run_events where run_id = $1
), admissions as (
    select a.admitted_at as at, a.id as seq from attempts_seen a where a.run_id = $1 and a.admitted_at is not null
    union all
    select r.admitted_at, 9223372036854775807 from run r
    where r.flow = 'priority' and r.admitted_at is not null
      and not exists (select from attempts_seen a where a.run_id = $1 and a.admitted_at = r.admitted_at)
)
select id, at, kind, actor, message, details
from (
    select id, at, kind, actor, message, details, 0 as source, id as seq, 0 as phase
    from recorded
    union all
    select null, adm.at, 'admitted', 'scheduler',
           'admitted after ' || round(extract(epoch from adm.at - r.enqueued_at)::numeric, 3) || ' s in the queue',
           jsonb_build_object('wait_seconds', extract(epoch from adm.at - r.enqueued_at)), 1, adm.seq, -1
    from admissions adm cross join run r
    where not exists (select from recorded e where e.kind = 'admitted' and e.at = adm.at)
    union all
    select null, started_at, 'started', 'worker', 'attempt ' || number || ' started on worker ' || worker_id,
           jsonb_build_object('attempt', number, 'attempt_id', id, 'worker_id', worker_id), 1, id, 0
    from attempts_seen
    where run_id = $1
    union all
    select null, finished_at, outcome, 'worker', message, jsonb_build_object('exit_code', exit_code, 'attempt_id', id),
           1, id, 1
    from attempts_seen
    where run_id = $1 and message is not null and finished_at is not null
) timeline
order by at, source, seq, phase
