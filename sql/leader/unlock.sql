-- Releases the leadership at once (graceful shutdown). $1 lock key. No row locks.
select pg_advisory_unlock($1)
