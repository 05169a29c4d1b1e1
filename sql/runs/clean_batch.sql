-- Cleans the oldest finished runs that finished before $1, at most $2 of them: deletes their logs,
-- their result blobs and their input blobs unless something else still uses them (a stored job
-- that is not deleted, or a run outside this batch: cleaned runs reference no blob), and moves
-- them to `cleaned` with a `cleaned` event. Runs that are not finished are never read: the scan is
-- the partial index runs_finished, terminal states only. A workflow step whose children have not
-- all ended is kept for them.
-- $1 finished before (timestamptz), $2 most runs, $3 now (the events' time), $4 the events' message.
-- Row locks: FOR UPDATE SKIP LOCKED on the runs it cleans; the blob rows it deletes and the job rows
-- whose reference to them it unsets. Called inside a fenced leader transaction.
with old as materialized (
    select id, input_blob_id, result_blob_id
    from runs
    where state in ('succeeded', 'failed', 'timed_out', 'cancelled', 'aborted')
      and finished_at is not null and finished_at < $1  -- runs_finished
      -- A workflow step keeps its result while a child has yet to run: the child reads it into its
      -- parents/ folder when it starts (docs/workflows.md). One probe of the step's own edges
      -- (workflow_edges_pkey, then runs_pkey per child): `offset 0` keeps PostgreSQL from turning
      -- the probe into a hashed subplan, which reads every edge and every unfinished run.
      and (workflow_run_id is null or not exists (
            select 1 from workflow_edges e join runs c on c.id = e.child_run_id
            where e.parent_run_id = runs.id and c.state in ('waiting', 'queued', 'admitted', 'running')
            offset 0))
    order by finished_at, id
    limit $2
    for update skip locked
), cleaned as (
    update runs r
    set state = 'cleaned', input_blob_id = null, result_blob_id = null
    from old
    where r.id = old.id
    returning r.id
), logs as (
    delete from run_logs l using old where l.run_id = old.id
    returning 1
), inputs as materialized (
    select distinct input_blob_id as id from old where input_blob_id is not null
), kept as materialized (
    -- The inputs something else still uses: one probe per input, stopping at the first use
    -- (`offset 0`, as in the workflow guard, keeps each probe from becoming a hashed subplan, which
    -- reads its whole table). Another run that is not in this batch, by runs_input_blob (migration
    -- 0021), or a stored job that is not deleted, by jobs_input_blob.
    select i.id
    from inputs i
    where exists (
            select 1 from runs r
            where r.input_blob_id = i.id and r.input_blob_id is not null  -- runs_input_blob
              and r.id <> all (array(select id from old))
            offset 0)
       or exists (
            select 1 from jobs j
            where j.input_blob_id = i.id and j.input_blob_id is not null  -- jobs_input_blob
              and not j.one_off and j.deleted_at is null
            offset 0)
), doomed as materialized (
    select result_blob_id as id, 'result' as kind from old where result_blob_id is not null
    union all
    select id, 'input' from inputs where id not in (select id from kept)
), unreferenced as (
    -- One-off and deleted jobs do not keep their files; their reference goes with the blob.
    update jobs j set input_blob_id = null
    from doomed d
    where j.input_blob_id = d.id and j.input_blob_id is not null  -- jobs_input_blob
    returning 1
), gone as (
    delete from blobs b using doomed d where b.id = d.id
    returning b.size, d.kind
), events as (
    insert into run_events (run_id, at, kind, actor, message)
    select id, $3, 'cleaned', 'scheduler', $4 from cleaned
    returning 1
)
select (select count(*) from cleaned) as runs,
       (select count(*) from logs) as log_rows,
       (select count(*) from gone) as blobs,
       (select coalesce(sum(size), 0) from gone where kind = 'result')::bigint as result_bytes,
       (select coalesce(sum(size), 0) from gone where kind = 'input')::bigint as input_bytes,
       (select count(*) from events) as events
