-- Locks the namespace rows an admission batch touches, so a quota change cannot interleave with
-- the re-check and the commit. $1 names text[]. Row locks: FOR UPDATE on those namespace rows.
select name from namespaces where name = any($1::text[]) order by name for update
