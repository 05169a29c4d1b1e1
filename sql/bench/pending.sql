-- How many runs are not finished yet (the burn-down's progress). Reads only the partial indexes
-- of the hot states, so it costs what is left, not what the table holds. No parameters. No row locks.
select (select count(*) from runs where state = 'queued' and namespace is not null)
     + (select count(*) from runs where state in ('admitted', 'running') and namespace is not null) as pending
