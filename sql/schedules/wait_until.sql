-- Waits, in the transaction that prepared the fires of instant $1 ahead of it, until the
-- database's clock reaches $1 (so that no prepared fire commits before its time, whatever the
-- scheduler's own clock says), and returns the clock then. No row locks of its own (the
-- transaction keeps the ones it holds).
select clock_timestamp() as now
from (select pg_sleep(greatest(0, extract(epoch from $1::timestamptz - clock_timestamp()))::float8)) as waited
