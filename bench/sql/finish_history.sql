-- Turns the admitted runs of namespace $1 into runs that ran and succeeded, with what a real run
-- leaves behind: its attempt row, which carries its start and its reported end (migration 0023;
-- the submission wrote the `submitted` and `admitted` events). The `history` scenario of `berth bench` builds its table of
-- finished runs with it, 10,000 at a time. Destructive: benchmark databases only.
-- $1 namespace. Row locks: the runs it updates. Returns how many runs it finished.
with done as (
    update runs
    set state = 'succeeded', attempt = 1, attempt_id = nextval('attempts_id_seq'), worker_id = 0,
        started_at = enqueued_at, finished_at = enqueued_at, exit_code = 0
    where state = 'admitted' and admitted_at is not null and namespace = $1
    returning id, attempt_id, started_at, finished_at
), attempt as (
    insert into attempts (id, run_id, worker_id, number, started_at, finished_at, outcome, exit_code, message)
    select attempt_id, id, 0, 1, started_at, finished_at, 'succeeded', 0, '' from done
)
select count(*) as runs from done
