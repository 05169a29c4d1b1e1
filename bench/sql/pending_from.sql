-- How many runs from id $1 on are not finished yet (probes behind a deep backlog: reads the
-- primary key range, not the backlog). No row locks.
select count(*) from runs where id >= $1 and state in ('waiting', 'queued', 'admitted', 'running')
