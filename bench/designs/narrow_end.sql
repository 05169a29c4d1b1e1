-- The `narrow` design's end: the narrow row deleted (fenced by its token), the run's row written
-- once with the whole attempt (state, start, end), and the attempt's row, as berth writes it now.
-- $1 run ids, $2 attempt ids.
with done as (
    delete from design_ready q using unnest($1::bigint[], $2::bigint[]) f (run_id, attempt_id)
    where q.run_id = f.run_id and q.attempt_id = f.attempt_id
    returning q.*
), run as (
    update runs r
    set state = 'succeeded', attempt = r.attempt + 1, attempt_id = d.attempt_id, worker_id = d.worker_id,
        started_at = d.started_at, finished_at = now(), exit_code = 0, message = ''
    from done d where r.id = d.run_id
    returning r.id, r.attempt_id, r.worker_id, r.attempt, r.started_at, r.admitted_at, r.finished_at, r.state,
              r.exit_code, r.message
), attempt as (
    insert into attempts (id, run_id, worker_id, number, started_at, admitted_at, finished_at, outcome, exit_code, message)
    select attempt_id, id, worker_id, attempt, started_at, admitted_at, finished_at, state, exit_code, message from run
)
select count(*) from run
