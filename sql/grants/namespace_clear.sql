-- Removes every grant on namespace $1 (before the new set is inserted, in one transaction).
-- $1 namespace. Row locks: the namespace's grant rows.
delete from namespace_grants where namespace = $1
