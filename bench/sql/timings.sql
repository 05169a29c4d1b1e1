-- Per run of a benchmark: state and the enqueue-to-start and enqueue-to-finish delays in
-- milliseconds (database clock). $1 lowest run id to include. No row locks.
select id, state,
       (extract(epoch from started_at - enqueued_at) * 1000)::float8 as start_ms,
       (extract(epoch from finished_at - enqueued_at) * 1000)::float8 as finish_ms
from runs
where id >= $1
order by id
