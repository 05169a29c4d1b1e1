-- Turns the admitted runs of namespace $1 into runs that ran and succeeded, with what a real run
-- leaves behind: its attempt row and its `started` and `succeeded` events (the submission wrote
-- `submitted` and `admitted`). The `history` scenario of `berth bench` builds its table of
-- finished runs with it, 10,000 at a time. Destructive: benchmark databases only.
-- $1 namespace. Row locks: the runs it updates. Returns how many runs it finished.
with done as (
    update runs
    set state = 'succeeded', attempt = 1, attempt_id = nextval('attempts_id_seq'), worker_id = 0,
        started_at = enqueued_at, finished_at = enqueued_at, exit_code = 0
    where state = 'admitted' and admitted_at is not null and namespace = $1
    returning id, attempt_id, started_at, finished_at
), attempt as (
    insert into attempts (id, run_id, worker_id, number, started_at, finished_at, outcome, exit_code)
    select attempt_id, id, 0, 1, started_at, finished_at, 'succeeded', 0 from done
), events as (
    insert into run_events (run_id, at, kind, actor, message, details)
    select id, started_at, 'started', 'worker', 'attempt 1 started on worker 0',
           jsonb_build_object('attempt', 1, 'attempt_id', attempt_id, 'worker_id', 0)
    from done
    union all
    select id, finished_at, 'succeeded', 'worker', '', jsonb_build_object('exit_code', 0, 'attempt_id', attempt_id)
    from done
)
select count(*) as runs from done
