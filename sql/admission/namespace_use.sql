-- Every namespace's quota and what its admitted and running runs use (the API's queue view).
-- $1 names to restrict to (null: all). No row locks.
select * from namespace_use
where $1::text[] is null or name = any($1::text[])
order by name
