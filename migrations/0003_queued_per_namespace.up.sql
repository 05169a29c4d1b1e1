-- Admission reads the oldest queued runs of each namespace and priority, so a backlog blocked in
-- one namespace cannot hide the runs of the others.
create index runs_queued_namespace on runs (namespace, priority, enqueued_at, id) where state = 'queued';
