-- Per fire of the `schedules` scenario: from its fire time to its run's enqueue (the run's
-- `enqueued_at`: the firing transaction's clock), in milliseconds, and how many runs that fire
-- names (exactly one when it fired once). No parameters. No row locks.
select f.job_id,
       (extract(epoch from r.enqueued_at - f.fire_at) * 1000)::float8 as lag_ms,
       (select count(*) from runs x where x.id = f.run_id and x.job_id = f.job_id and x.triggered_by = 'schedule')
           as runs
from schedule_fires f
left join runs r on r.id = f.run_id
where f.outcome = 'started'
