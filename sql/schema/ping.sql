-- Liveness check of a connection. No row locks.
select 1
