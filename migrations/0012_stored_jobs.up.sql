-- Jobs as stored definitions (issue 12): a description, who created it and when it last changed,
-- extra arguments, a soft delete (its finished runs stay readable), and the mark of the one-off
-- job an upload creates. Every job that exists before this migration came from an upload.
alter table jobs
    add column description text        not null default '',
    add column created_by  text        not null default '',
    add column updated_at  timestamptz not null default now(),
    add column one_off     boolean     not null default false,
    add column args        jsonb       not null default '[]',
    add column deleted_at  timestamptz;

update jobs set created_by = user_id, updated_at = created_at, one_off = true;

alter table jobs add constraint jobs_name_length check (char_length(name) between 1 and 255);

-- A stored job's name is unique in its namespace among the jobs that are not deleted; one-off
-- jobs (uploads) are named after their service and user and repeat freely.
create unique index jobs_stored_name on jobs (namespace, name) where not one_off and deleted_at is null;
-- The job list: stored jobs, newest first; and the search by part of their name (jobs_name_trgm
-- covers the one-off jobs of uploads too, which outnumber stored jobs and which the list hides).
create index jobs_stored on jobs (id) where not one_off and deleted_at is null;
create index jobs_stored_name_trgm on jobs using gin (name gin_trgm_ops) where not one_off and deleted_at is null;

-- A run keeps what it was started with: its payload is copied from the job when it is created,
-- so editing or deleting the job never changes a run already queued or running.
alter table runs
    add column input_blob_id   bigint,
    add column command         jsonb,
    add column env             jsonb   not null default '{}',
    add column timeout_seconds integer,
    add column triggered_by    text    not null default '';

update runs r
set input_blob_id = j.input_blob_id, command = j.command, env = j.env, timeout_seconds = j.timeout_seconds,
    triggered_by = 'upload'
from jobs j
where j.id = r.job_id;

-- No index for the run list's user and namespace filters: runs are updated two or three times each
-- (claim, finish), never as heap-only updates because their state is indexed, so every index on
-- runs costs an insert per update. Two such indexes cost the no-op burn-down a fifth of its speed
-- (20,500-24,800 runs/s before, 16,900-18,200 with them, back-to-back on 2 cores). The list walks
-- the primary key backwards and filters, which finds a page at once for any user or namespace
-- with recent runs (docs/jobs.md).

-- Every change to a job: who, when, what changed.
create table job_events (
    id      bigserial,
    job_id  bigint      not null,
    at      timestamptz not null default now(),
    kind    text        not null,
    actor   text        not null,
    changes jsonb       not null default '{}',
    primary key (job_id, id)
);
