drop index if exists runs_running_worker;
drop index if exists runs_waiting;
drop index if exists runs_idempotency_key;
alter table runs
    drop column if exists request_hash,
    drop column if exists idempotency_key,
    drop column if exists cancel_requested,
    drop column if exists lost_attempts;
