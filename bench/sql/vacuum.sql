-- VACUUM (ANALYZE) of the tables a run writes, as autovacuum would have done over the time a
-- history grew. Not in a transaction (VACUUM refuses one): sent with the simple query protocol.
-- No parameters. Takes SHARE UPDATE EXCLUSIVE locks on the tables.
vacuum (analyze) runs, attempts, run_events
