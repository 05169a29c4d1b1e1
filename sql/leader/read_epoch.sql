-- The current fencing epoch, read without a lock: the early check of a leader transaction that is
-- kept open across other leader work and takes the fencing lock (leader/check_epoch.sql) only
-- right before its commit. No row locks.
select epoch from leader where id = 1
