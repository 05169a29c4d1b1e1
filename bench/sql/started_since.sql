-- Enqueue-to-start in milliseconds of the started runs of service $2 with an id above $1
-- (cleaned runs keep their timestamps), for the `retention` scenario, which reads them while
-- retention may delete old rows. $1 lowest id excluded, $2 service. No row locks.
select id, (extract(epoch from started_at - enqueued_at) * 1000)::float8 as start_ms
from runs
where id > $1 and service = $2 and started_at is not null
order by id
