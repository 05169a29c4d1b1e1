-- The name of one job (the `lists` scenario searches a stored job by its whole name). $1 its id.
-- No row locks.
select name from jobs where id = $1
