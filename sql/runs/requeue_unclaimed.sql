-- Startup timeout: an admitted run (priority flow) that no worker claimed within $1 seconds goes
-- back to the queue at its place, so its reservation returns to the pool.
-- A streaming run (restart set) counts it as a submission failure and follows its restart policy,
-- as retry::restart decides a Retryable executor error: restarted after submission_retry_interval
-- (`always`; `on_failure` while its submission failures so far are fewer than submission_retries,
-- with a `restart` event, reason submission_failure), else `failed`.
-- $1 startup timeout seconds, $2 now (nullable).
-- Row locks: FOR UPDATE SKIP LOCKED on those runs. Called inside a fenced leader transaction.
with stale as materialized (
    select id, admitted_at,
           case when restart is null then 'requeue'
                when restart->>'restart_policy' = 'always'
                  or (restart->>'restart_policy' = 'on_failure'
                      and submission_failures < (restart->>'submission_retries')::int) then 'restart'
                else 'failed' end as verdict,
           coalesce((restart->>'submission_retry_interval')::float8, 0) as restart_after
    from runs
    where state = 'admitted' and admitted_at is not null and flow = 'priority'
      and admitted_at < coalesce($2::timestamptz, now()) - make_interval(secs => $1)
    for update skip locked
), moved as (
    update runs r
    set state = case stale.verdict when 'requeue' then 'queued' when 'restart' then 'waiting' else 'failed' end,
        admitted_at = null,
        not_before = case when stale.verdict = 'restart'
                          then coalesce($2::timestamptz, now()) + make_interval(secs => stale.restart_after) end,
        finished_at = case when stale.verdict = 'failed' then coalesce($2::timestamptz, now()) end,
        message = case when stale.verdict = 'failed'
                       then 'no worker claimed it within ' || $1 || ' s of admission; restart policy '
                            || (r.restart->>'restart_policy') || ': no restart left'
                       else r.message end,
        -- Null on batch runs, and so they stay.
        submission_attempts = r.submission_attempts + 1,
        submission_failures = r.submission_failures + 1
    from stale where r.id = stale.id
    returning r.id, stale.admitted_at, r.enqueued_at, stale.verdict, r.not_before, r.submission_attempts,
              r.execution_attempts, r.submission_failures, r.execution_failures
), events as (
    insert into run_events (run_id, at, kind, actor, message, details)
    -- The admission it undoes, which only the run's admitted_at recorded (it is cleared here);
    -- unless an event row records it already (an admission from before migration 0023).
    select id, admitted_at, 'admitted', 'scheduler',
           'admitted after ' || round(extract(epoch from admitted_at - enqueued_at)::numeric, 3) || ' s in the queue',
           jsonb_build_object('wait_seconds', extract(epoch from admitted_at - enqueued_at))
    from moved m
    where not exists (select from run_events e where e.run_id = m.id and e.kind = 'admitted' and e.at = m.admitted_at)
    union all
    select id, coalesce($2::timestamptz, now()),
           case verdict when 'requeue' then 'requeued' when 'restart' then 'restart' else 'failed' end, 'scheduler',
           'no worker claimed it within ' || $1 || ' s of admission'
               || case verdict when 'requeue' then ': back to the queue at its place'
                               when 'restart' then ': restart (submission_failure) at ' || not_before
                               else ': a submission failure, no restart left' end,
           case when verdict = 'restart'
                then jsonb_build_object('reason', 'submission_failure', 'restart_at', not_before,
                                        'submission_attempts', submission_attempts,
                                        'execution_attempts', execution_attempts,
                                        'submission_failures', submission_failures,
                                        'execution_failures', execution_failures)
                else '{}'::jsonb end
    from moved
)
select id from moved
