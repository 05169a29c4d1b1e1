-- Creates $1 stored batch jobs (service `bench`, flow $4, users 0..999) and a schedule for each
-- with cron $3, decided up to now and first looked at by the leader at $2: the `schedules`
-- scenario of `berth bench` makes them all due in the same second, set-based. Destructive:
-- benchmark databases only. $1 how many, $2 the instant they come due, $3 cron, $4 flow.
-- No row locks beyond the rows it inserts. Returns how many schedules it created.
with job as (
    insert into jobs (name, kind, service, namespace, user_id, flow, pods, created_by)
    select 'bench-schedule-' || g, 'batch', 'bench', 'default', (g % 1000)::text, $4, 1, 'bench'
    from generate_series(1, $1::int) g
    returning id
), schedule as (
    insert into schedules (job_id, cron, after_at, next_fire_at)
    select id, $3, now(), $2::timestamptz from job
    returning 1
)
select count(*) from schedule
