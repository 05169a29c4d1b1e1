-- Deletes the oldest cleaned runs that finished before $1, at most $2 of them, with their
-- attempts, events and logs (a workflow step's: its step row and its edges to its children too),
-- and the one-off jobs (with their events) left without runs. Stored jobs stay, deleted or not.
-- Only cleaned runs are read: the scan is the partial index runs_cleaned.
-- $1 finished before (timestamptz), $2 most runs.
-- Row locks: FOR UPDATE SKIP LOCKED on the runs it deletes; the job rows it deletes.
-- Called inside a fenced leader transaction.
with old as materialized (
    select id, job_id
    from runs
    where state = 'cleaned' and finished_at is not null and finished_at < $1  -- runs_cleaned
    order by finished_at, id
    limit $2
    for update skip locked
), events as (
    delete from run_events e using old where e.run_id = old.id
    returning 1
), attempts as (
    delete from attempts a using old where a.run_id = old.id
    returning 1
), logs as (
    delete from run_logs l using old where l.run_id = old.id
    returning 1
), gone as (
    delete from runs r using old where r.id = old.id
    returning r.id
), steps_gone as (
    -- A workflow step's row and the edges to its children (keyed by parent: a range each); the
    -- workflow_runs row stays as history.
    delete from workflow_steps s using old where s.run_id = old.id
    returning 1
), edges_gone as (
    delete from workflow_edges e using old where e.parent_run_id = old.id
    returning 1
), jobs_gone as (
    -- The statement's own deletions are invisible to its other parts: the runs it deletes are
    -- excluded by id.
    delete from jobs j
    where j.id in (select job_id from old) and j.one_off
      and not exists (select 1 from runs r where r.job_id = j.id and r.id not in (select id from old))
    returning j.id
), job_events as (
    delete from job_events e using jobs_gone g where e.job_id = g.id
    returning 1
)
select (select count(*) from gone) as runs,
       (select count(*) from attempts) as attempts,
       (select count(*) from events) as events,
       (select count(*) from logs) as log_rows,
       (select count(*) from jobs_gone) as jobs,
       (select count(*) from job_events) as job_events
