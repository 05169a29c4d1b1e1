-- Tries to take the scheduler leadership: a session advisory lock on the leader's own connection.
-- $1 lock key. No row locks.
select pg_try_advisory_lock($1) as elected
