-- VACUUM (ANALYZE) of the tables the `lists` fill wrote, as autovacuum would have done while they
-- grew over a year (visibility map, hint bits, statistics). Not in a transaction: simple protocol.
-- No parameters. Takes SHARE UPDATE EXCLUSIVE locks on the tables.
vacuum (analyze) jobs, runs
