-- PostgreSQL's own ceiling for a queue of berth's shape: a table of jobs claimed with
-- FOR UPDATE SKIP LOCKED in admission order, a partial index per hot state, completion by worker.
drop table if exists bench_jobs;
create table bench_jobs (
    id          bigserial primary key,
    state       text        not null,
    worker      integer,
    payload     jsonb       not null default '{}',
    enqueued_at timestamptz not null default now(),
    started_at  timestamptz,
    finished_at timestamptz
);
create index bench_jobs_available on bench_jobs (id) where state = 'available';
create index bench_jobs_running on bench_jobs (worker) where state = 'running';
