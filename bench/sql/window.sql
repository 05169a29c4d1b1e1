-- The burn-down window: the database clock now and the last finish among runs from $1 on.
-- $1 lowest run id. No row locks.
select now() as now, max(finished_at) as last_finish,
       count(*) filter (where state = 'succeeded') as succeeded
from runs where id >= $1
