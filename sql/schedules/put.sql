-- Sets the schedule of a batch or workflow job (creates or replaces it), with a `schedule_set` job event, and
-- wakes the leader. An edit applies from its time on: `after_at` moves to now (never back), so no
-- fire time before the edit is decided by the new expression and none is decided twice; the
-- leader looks at it at once (`next_fire_at` = now) and computes its next fire time.
-- $1 job id, $2 cron, $3 time zone, $4 policy, $5 starting deadline seconds (nullable), $6 paused,
-- $7 actor, $8 now (nullable), $9 the setter's subject (nullable: an admin, or auth off; a
-- workflow's fires are then not checked again), $10 its groups. Row locks: the schedule row
-- (upsert). No row when the job does not exist, is deleted, or is neither a batch nor a workflow
-- job.
with job as (
    -- Not an upload's one-off job: retention drops its files with its run (the API says so first).
    select id from jobs where id = $1 and deleted_at is null and kind in ('batch', 'workflow') and not one_off
), schedule as (
    insert into schedules as s (job_id, cron, time_zone, policy, starting_deadline_seconds, paused, after_at,
                                next_fire_at, created_at, updated_at, set_by, set_by_groups)
    select id, $2, $3, $4, $5, $6, coalesce($8::timestamptz, now()), coalesce($8::timestamptz, now()),
           coalesce($8::timestamptz, now()), coalesce($8::timestamptz, now()), $9, coalesce($10::text[], '{}')
    from job
    on conflict (job_id) do update
        set cron = excluded.cron, time_zone = excluded.time_zone, policy = excluded.policy,
            starting_deadline_seconds = excluded.starting_deadline_seconds, paused = excluded.paused,
            after_at = greatest(s.after_at, excluded.after_at), next_fire_at = excluded.next_fire_at,
            updated_at = excluded.updated_at, set_by = excluded.set_by, set_by_groups = excluded.set_by_groups
    returning *
), event as (
    insert into job_events (job_id, at, kind, actor, changes)
    select job_id, updated_at, 'schedule_set', $7,
           jsonb_build_object('cron', cron, 'time_zone', time_zone, 'policy', policy,
                              'starting_deadline_seconds', starting_deadline_seconds, 'paused', paused)
    from schedule
)
select schedule.*, pg_notify('berth_schedules', '') from schedule
