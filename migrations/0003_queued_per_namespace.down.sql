drop index if exists runs_queued_namespace;
