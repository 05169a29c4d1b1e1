-- Stores why each looked-at run still waits, and its head timer. $1 run ids bigint[],
-- $2 block records jsonb[], $3 head_since timestamptz[] (null: not a blocking head).
-- Row locks: the run rows (update).
update runs r
set block = b.block, head_since = b.head_since
from (select u.*, 'queued'::text as queued
      from unnest($1::bigint[], $2::jsonb[], $3::timestamptz[]) as u (id, block, head_since)) b
-- The state check is a join clause on purpose: see runs/finish_batch.sql.
where r.id = b.id and r.state = b.queued
