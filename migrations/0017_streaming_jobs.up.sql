-- Streaming jobs (issue 15): jobs that run until stopped, with a restart policy, one active run
-- per job, stopped by an abort.
--
-- The restart policy is the job's (and, copied when a run starts, the run's own, like the retry
-- policy): {"restart_policy": "never" | "always" | "on_failure", "submission_retries",
-- "submission_retry_interval", "failure_retries", "failure_retry_interval"}. Null on batch jobs
-- and their runs: a run is a streaming run exactly when `restart` is set.
alter table jobs add column restart jsonb;

-- A streaming run counts its attempts by kind (null on batch runs, so batch rows stay as wide as
-- before and `+ 1` on them stays null): submissions (every start tried), executions (starts that
-- ran the process), submission failures (the process never ran: executor error, or no worker took
-- it in time) and execution failures (it ran and failed, or its worker died). The restart policy
-- limits the two kinds of failure separately (retry::restart).
alter table runs
    add column restart             jsonb,
    add column submission_attempts integer,
    add column execution_attempts  integer,
    add column submission_failures integer,
    add column execution_failures  integer;

-- At most one active run (application) per streaming job, enforced here: a second start fails on
-- this index and the API answers 409 naming the active run. Only streaming runs enter it, so the
-- claims, finishes and admissions of batch runs write nothing into it (the predicate is false for
-- them), and a streaming run leaves it when it ends. `restart is not null` is the guard column
-- (CONTRIBUTING: every partial index on runs requires a column to be set).
create unique index runs_streaming_active on runs (job_id)
    where restart is not null and state in ('waiting', 'queued', 'admitted', 'running');
