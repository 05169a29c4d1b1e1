-- Cron schedules of batch jobs (issue 14), and the record of every fire time decided.
--
-- Exactly once per job and fire time: a fire is decided in the leader's fenced transaction that
-- inserts its `schedule_fires` row (primary key (job_id, fire_at)) together with the run it starts
-- and advances the schedule's `after_at`; a second decision for the same time finds the row and
-- does nothing (docs/schedules.md).
create table schedules (
    job_id                    bigint primary key references jobs (id) on delete cascade,
    -- five fields, six with seconds first, or a name such as @hourly (checked by the API with croner)
    cron                      text        not null,
    -- IANA name; fire times are local times there
    time_zone                 text        not null default 'UTC',
    policy                    text        not null default 'allow' check (policy in ('allow', 'forbid', 'replace')),
    -- a fire later than this after its time is missed; null: no limit
    starting_deadline_seconds integer     check (starting_deadline_seconds > 0),
    paused                    boolean     not null default false,
    -- every fire time up to and including this instant is decided; later ones are not
    after_at                  timestamptz not null,
    -- when the leader looks at the schedule next (the first fire time after after_at, or sooner
    -- after an edit); null: never again
    next_fire_at              timestamptz,
    created_at                timestamptz not null default now(),
    updated_at                timestamptz not null default now()
);

-- The leader's read of due schedules: a range scan of the ones whose time has come.
create index schedules_due on schedules (next_fire_at) where not paused;

-- One row per decided fire time. No foreign key to runs: retention deletes old runs, and the row
-- must outlive them to keep refusing a second fire.
create table schedule_fires (
    job_id     bigint      not null references jobs (id) on delete cascade,
    fire_at    timestamptz not null,
    outcome    text        not null check (outcome in ('started', 'skipped', 'missed', 'replaced')),
    run_id     bigint,
    decided_at timestamptz not null default now(),
    primary key (job_id, fire_at)
);

-- The pruning of old fires reads them by age.
create index schedule_fires_age on schedule_fires (fire_at);
