-- berth core schema: jobs, runs, attempts, events, blobs, workers, namespaces, leader.
-- Every state change of a run is written together with a row in run_events.

create extension if not exists pg_trgm;

-- Chunked binary storage: uploaded inputs and result zips, so any API replica serves any download.
create table blobs (
    id         bigserial primary key,
    size       bigint      not null default 0,
    created_at timestamptz not null default now()
);

create table blob_chunks (
    blob_id bigint  not null references blobs (id) on delete cascade,
    seq     integer not null,
    data    bytea   not null,
    primary key (blob_id, seq)
);

-- Resource pools. Limits are in millicores, MiB, pods and MiB; usage is derived from active runs.
create table namespaces (
    name          text primary key,
    cpu_limit     bigint      not null,
    memory_limit  bigint      not null,
    pods_limit    bigint      not null,
    storage_limit bigint      not null,
    updated_at    timestamptz not null default now()
);

create table jobs (
    id             bigserial primary key,
    name           text        not null,
    kind           text        not null default 'batch' check (kind in ('batch', 'streaming')),
    service        text        not null,
    namespace      text        not null,
    user_id        text        not null,
    priority       text        not null default 'normal' check (priority in ('high', 'normal')),
    flow           text        not null default 'priority' check (flow in ('priority', 'legacy')),
    cpu            bigint      not null default 0 check (cpu >= 0),
    memory         bigint      not null default 0 check (memory >= 0),
    pods           bigint      not null default 1 check (pods >= 0),
    storage        bigint      not null default 0 check (storage >= 0),
    input_blob_id  bigint      references blobs (id),
    command        jsonb,
    env            jsonb       not null default '{}',
    timeout_seconds integer    check (timeout_seconds > 0),
    max_attempts   integer     not null default 1 check (max_attempts >= 1),
    tags           jsonb       not null default '{}',
    created_at     timestamptz not null default now()
);

create index jobs_name_trgm on jobs using gin (name gin_trgm_ops);

create table workers (
    id           bigserial primary key,
    name         text        not null,
    services     text[]      not null,
    cpu          bigint      not null,
    memory       bigint      not null,
    pods         bigint      not null,
    storage      bigint      not null,
    started_at   timestamptz not null default now(),
    heartbeat_at timestamptz not null default now(),
    stopped_at   timestamptz
);

-- One execution of a job. Scheduling columns are copied from the job so admission and claims
-- read one table.
create table runs (
    id           bigserial primary key,
    job_id       bigint      not null references jobs (id) on delete cascade,
    user_id      text        not null,
    service      text        not null,
    namespace    text        not null,
    priority     text        not null check (priority in ('high', 'normal')),
    flow         text        not null check (flow in ('priority', 'legacy')),
    cpu          bigint      not null,
    memory       bigint      not null,
    pods         bigint      not null,
    storage      bigint      not null,
    state        text        not null check (state in (
                     'waiting', 'queued', 'admitted', 'running',
                     'succeeded', 'failed', 'timed_out', 'cancelled', 'aborted', 'cleaned')),
    enqueued_at  timestamptz not null default now(),
    admitted_at  timestamptz,
    started_at   timestamptz,
    finished_at  timestamptz,
    attempt      integer     not null default 0,
    max_attempts integer     not null default 1,
    attempt_id   bigint,                 -- fencing token of the current attempt
    worker_id    bigint      references workers (id),
    exit_code    integer,
    message      text        not null default '',
    result_blob_id bigint    references blobs (id),
    -- admission bookkeeping (see docs/state_machine.md)
    head_since   timestamptz,
    head_retries integer     not null default 0,
    not_before   timestamptz,
    block        jsonb
);

-- Hot paths only ever look at a handful of states; partial indexes keep them small
-- however many finished runs the table holds.
create index runs_queued on runs (priority, enqueued_at, id) where state = 'queued';
create index runs_admitted on runs (admitted_at, id) where state = 'admitted';
create index runs_active on runs (namespace, user_id, service) where state in ('admitted', 'running');
create index runs_worker on runs (worker_id) where state = 'running';
create index runs_job on runs (job_id);

create table attempts (
    id          bigserial primary key,   -- the fencing token
    run_id      bigint      not null references runs (id) on delete cascade,
    worker_id   bigint      not null references workers (id),
    number      integer     not null,
    started_at  timestamptz not null default now(),
    finished_at timestamptz,
    outcome     text,
    exit_code   integer
);

create index attempts_run on attempts (run_id);

create table run_events (
    id      bigserial primary key,
    run_id  bigint      not null references runs (id) on delete cascade,
    at      timestamptz not null default now(),
    kind    text        not null,
    actor   text        not null,
    message text        not null default '',
    details jsonb       not null default '{}'
);

create index run_events_run on run_events (run_id, id);

create table run_logs (
    id         bigserial primary key,
    run_id     bigint      not null references runs (id) on delete cascade,
    attempt_id bigint      not null,
    stream     text        not null check (stream in ('stdout', 'stderr')),
    data       bytea       not null,
    at         timestamptz not null default now()
);

create index run_logs_run on run_logs (run_id, id);

-- The scheduler leader's fencing epoch. Leadership itself is a session advisory lock;
-- every takeover increments the epoch and every leader write checks it.
create table leader (
    id        integer primary key check (id = 1),
    epoch     bigint      not null default 0,
    holder    text        not null default '',
    elected_at timestamptz,
    -- smooth weighted round robin credits between the high and normal queues
    wrr_high   bigint      not null default 0,
    wrr_normal bigint      not null default 0
);

insert into leader (id) values (1);
