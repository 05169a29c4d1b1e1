-- The database clock: every replica's decisions use it, so drift between machines cannot matter.
-- No row locks.
select now()
