create index runs_queued on runs (priority, enqueued_at, id) where state = 'queued';
