-- Every namespace's quota and what its admitted and running runs use.
-- $1 names to restrict to (null: all). No row locks: the commit's re-check runs it right after
-- admission/lock_ledger.sql, in the same transaction, so it reads the quotas as locked.
select * from namespace_use
where $1::text[] is null or name = any($1::text[])
order by name
