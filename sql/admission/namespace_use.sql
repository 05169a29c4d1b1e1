-- Every namespace's quota, how it shares its queues between users, and what its admitted and
-- running runs use (the API's queue view). $1 names to restrict to (null: all). No row locks.
select u.*, n.sharing
from namespace_use u
join namespaces n on n.name = u.name
where $1::text[] is null or u.name = any($1::text[])
order by u.name
