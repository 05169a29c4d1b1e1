-- The retry policy is the run's own, stored when it is submitted (and on its job, for the runs a
-- stored job starts later): the worker that ends an attempt decides from it, whatever that
-- worker's own configuration says. max_attempts was already stored; the back-off joins it.
alter table jobs
    add column retry_backoff_seconds     float8 not null default 5 check (retry_backoff_seconds >= 0),
    add column retry_backoff_max_seconds float8 not null default 300 check (retry_backoff_max_seconds >= 0);

alter table runs
    add column retry_backoff_seconds     float8 not null default 5 check (retry_backoff_seconds >= 0),
    add column retry_backoff_max_seconds float8 not null default 300 check (retry_backoff_max_seconds >= 0);
