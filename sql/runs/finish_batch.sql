-- Ends many attempts at once (the worker's batched completion): per element, the same as
-- runs/finish.sql: outcome, result blob and attempt row, all in one statement. The attempt row,
-- written here from the run's record of the start (migration 0024) with the end's message, is the
-- record of the end: the timeline shows it as the end event (run_events/list.sql; migration 0023).
-- An element whose $2 is no longer its run's fencing token, or whose run is no longer running,
-- changes nothing (its blob is not written either) and is absent from the result. Wakes the
-- leader's admission (`berth_finished`, delivered at commit) when any end was recorded: one
-- statement, one round trip and its own transaction.
-- $1 run_ids bigint[], $2 attempt_ids bigint[], $3 states text[], $4 exit_codes int[],
-- $5 result zips bytea[] (null: none; each at most one blob chunk), $6 messages text[],
-- $7 now (nullable).
-- Row locks: the run rows (update).
with input as materialized (
    -- Blob ids are drawn up front so the run update can point at them; fenced rows leave a gap.
    select f.run_id, f.attempt_id, f.state, f.exit_code, f.zip, f.message, 'running'::text as running,
           case when f.zip is not null then nextval('blobs_id_seq') end as blob_id
    from unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[], $5::bytea[], $6::text[])
         as f (run_id, attempt_id, state, exit_code, zip, message)
), run as (
    update runs r
    set state = f.state, finished_at = coalesce($7::timestamptz, now()), exit_code = f.exit_code,
        result_blob_id = f.blob_id, message = f.message, cancel_requested = false
    from input f
    -- The state check is a join clause on purpose. As a restriction on runs, statistics taken while
    -- nothing was running make the planner scan the running runs first and compare each with every
    -- element (measured: 1.5 million comparisons, 550 ms for 829 ends, instead of 829 lookups).
    where r.id = f.run_id and r.attempt_id = f.attempt_id and r.state = f.running
    -- The end changes none of the start's columns: they are the attempt's.
    returning r.id, r.attempt_id, r.finished_at, r.state, r.exit_code, r.result_blob_id, r.message,
              r.worker_id, r.attempt, r.started_at, case when r.flow = 'priority' then r.admitted_at end as admitted_at
), attempt as (
    insert into attempts (id, run_id, worker_id, number, started_at, admitted_at, finished_at, outcome, exit_code, message)
    select attempt_id, id, worker_id, attempt, started_at, admitted_at, finished_at, state, exit_code, coalesce(message, '')
    from run
), blob as (
    -- Written in the same statement as the run's reference to it (no foreign key: migration 0020).
    insert into blobs (id, size)
    select run.result_blob_id, length(f.zip) from run join input f on f.run_id = run.id
    where run.result_blob_id is not null
), chunk as (
    insert into blob_chunks (blob_id, seq, data)
    select run.result_blob_id, 0, f.zip from run join input f on f.run_id = run.id
    where run.result_blob_id is not null and length(f.zip) > 0
), wake as materialized (
    select pg_notify('berth_finished', '') from (select 1 from run limit 1) any_finished
)
select run.id from run left join wake on true
