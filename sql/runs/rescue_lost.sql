-- Rescues the runs of dead workers: a running run whose worker stopped, or whose heartbeat is older
-- than the lease, ends its attempt as `lost` and goes back to the queue at its place (admitted for
-- the legacy flow). A lost attempt is the infrastructure's fault: it does not use up the job's own
-- attempts (retry decisions count attempt - lost_attempts), but after $2 lost attempts the run fails. The old worker's later writes are refused by
-- the fencing token (attempt_id is cleared).
-- A streaming run (restart set) follows its restart policy instead, as retry::restart decides
-- End::Lost: an execution failure, restarted after failure_retry_interval (`always`; `on_failure`
-- while its execution failures so far are fewer than failure_retries), else `failed`; a run whose
-- abort was requested ends `aborted`. Its restart writes a `restart` event (reason
-- execution_failure). A batch run whose cancel was requested ends `cancelled`: it is never queued
-- again to run a second time (its cancel stays granted).
-- $1 lease seconds, $2 most lost attempts, $3 now (nullable).
-- Row locks: FOR UPDATE SKIP LOCKED on the rescued runs. Called inside a fenced leader transaction.
with lost as materialized (
    -- With the attempt as the run records it before the rescue clears it: its row's start.
    select r.id, r.attempt_id, r.attempt, r.worker_id, r.started_at,
           case when r.flow = 'priority' then r.admitted_at end as admitted_at,
           -- The end, never before the start: this transaction's now() can precede a start that a
           -- claim committed after it began (the statement sees it, at READ COMMITTED).
           greatest(coalesce($3::timestamptz, now()), r.started_at) as ended_at,
           case when r.restart is null then case when r.cancel_requested then 'cancelled'
                                                 when r.lost_attempts + 1 >= $2 then 'failed' else 'requeue' end
                when r.cancel_requested then 'aborted'
                when r.restart->>'restart_policy' = 'always'
                  or (r.restart->>'restart_policy' = 'on_failure'
                      and r.execution_failures < (r.restart->>'failure_retries')::int) then 'restart'
                else 'failed' end as verdict,
           coalesce((r.restart->>'failure_retry_interval')::float8, 0) as restart_after
    from runs r
    join workers w on w.id = r.worker_id
    where r.state = 'running' and r.worker_id is not null  -- matches the partial index runs_running_worker
      and (w.stopped_at is not null
           -- The lease counts from the server's start at the earliest: while Postgres was down
           -- nobody could heartbeat, so a restart must not make every live worker look dead.
           or greatest(w.heartbeat_at, pg_postmaster_start_time())
              < coalesce($3::timestamptz, now()) - make_interval(secs => $1))
    for update of r skip locked
), moved as (
    update runs r
    set state = case lost.verdict when 'failed' then 'failed' when 'aborted' then 'aborted'
                                  when 'cancelled' then 'cancelled' when 'restart' then 'waiting'
                                  else case when r.flow = 'legacy' then 'admitted' else 'queued' end end,
        finished_at = case when lost.verdict in ('failed', 'aborted', 'cancelled') then lost.ended_at end,
        admitted_at = case when r.flow = 'legacy' and lost.verdict in ('requeue', 'failed')
                           then lost.ended_at end,
        not_before = case when lost.verdict = 'restart'
                          then lost.ended_at + make_interval(secs => lost.restart_after) end,
        message = case when lost.verdict = 'failed' and r.restart is null
                       then 'its worker died ' || (r.lost_attempts + 1) || ' times while running it'
                       when lost.verdict = 'failed'
                       then 'its worker died while running it; restart policy ' || (r.restart->>'restart_policy')
                            || ': no restart left'
                       when lost.verdict = 'aborted' then 'aborted; its worker died as it stopped'
                       when lost.verdict = 'cancelled' then 'cancelled; its worker died before it stopped the run'
                       else r.message end,
        lost_attempts = r.lost_attempts + 1,
        -- Null on batch runs, and so they stay.
        submission_attempts = r.submission_attempts + 1,
        execution_attempts = r.execution_attempts + 1,
        execution_failures = r.execution_failures + 1,
        -- Every verdict answers a requested cancel (cancelled, aborted) or had none to answer.
        cancel_requested = false,
        attempt_id = null,
        started_at = null,
        head_since = null
    from lost
    where r.id = lost.id
    returning r.id, r.state, r.worker_id, r.lost_attempts, lost.verdict, lost.ended_at, r.not_before,
              r.submission_attempts, r.execution_attempts, r.submission_failures, r.execution_failures
), attempt as (
    insert into attempts (id, run_id, worker_id, number, started_at, admitted_at, finished_at, outcome)
    select lost.attempt_id, lost.id, lost.worker_id, lost.attempt, lost.started_at, lost.admitted_at,
           lost.ended_at, 'lost'
    from moved join lost on lost.id = moved.id
    -- A running run always has its attempt_id (the claim sets both); the guard keeps a null out
    -- of the primary key whatever happens.
    where lost.attempt_id is not null
    -- A claim by a worker of a release before migration 0024 wrote the row at the start: the
    -- rescue ends that row. An attempt that already ended is never ended again.
    on conflict (id) do update set finished_at = excluded.finished_at, outcome = excluded.outcome
        where attempts.finished_at is null
)
insert into run_events (run_id, at, kind, actor, message, details)
select id, ended_at,
       case verdict when 'failed' then 'failed' when 'aborted' then 'aborted' when 'cancelled' then 'cancelled'
                    when 'restart' then 'restart' else 'requeued' end,
       'scheduler',
       'worker ' || worker_id || ' stopped heartbeating: attempt lost'
           || case when verdict = 'restart' then '; restart (execution_failure) at ' || not_before
                   when verdict = 'cancelled' then '; its cancel was requested: cancelled, not queued again'
                   else '' end,
       jsonb_build_object('worker_id', worker_id, 'lost_attempts', lost_attempts)
           || case when verdict = 'restart'
                   then jsonb_build_object('reason', 'execution_failure', 'restart_at', not_before,
                                           'submission_attempts', submission_attempts,
                                           'execution_attempts', execution_attempts,
                                           'submission_failures', submission_failures,
                                           'execution_failures', execution_failures)
                   else '{}'::jsonb end
from moved
returning run_id
