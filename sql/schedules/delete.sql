-- Removes the schedule of a job, with a `schedule_deleted` job event; its fire records stay (they
-- keep refusing a second fire for the same time if it is set again). $1 job id, $2 actor,
-- $3 now (nullable). Row locks: the schedule row. Returns the number of schedules removed.
with gone as (
    delete from schedules where job_id = $1 returning job_id
), event as (
    insert into job_events (job_id, at, kind, actor, changes)
    select job_id, coalesce($3::timestamptz, now()), 'schedule_deleted', $2, '{}'::jsonb from gone
)
select count(*)::bigint from gone
