-- Fault tolerance: lost attempts (dead workers), cancellation of running runs, retries with
-- back-off, idempotent submission.

alter table runs
    add column lost_attempts    integer not null default 0,
    add column cancel_requested boolean not null default false,
    add column idempotency_key  text,
    add column request_hash     text;

create unique index runs_idempotency_key on runs (idempotency_key) where idempotency_key is not null;

-- Runs waiting on a back-off (retries) become due at not_before.
create index runs_waiting on runs (not_before) where state = 'waiting';
-- The rescuer scans running runs by worker.
create index runs_running_worker on runs (worker_id, id) where state = 'running';
