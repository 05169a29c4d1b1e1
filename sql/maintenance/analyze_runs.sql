-- Refreshes the planner's statistics of the runs table (samples at most 30,000 rows at the default
-- statistics target). Takes a SHARE UPDATE EXCLUSIVE lock: never blocks reads or writes.
-- No parameters.
analyze runs
