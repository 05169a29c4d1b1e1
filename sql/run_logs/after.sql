-- Up to $3 chunks of a run's output after position $2 (run_logs.id; 0 from the start), in order:
-- a log follower's read (GET /api/v1/runs/{id}/logs?follow=true). Ids grow in write order for one
-- run: only the current attempt's worker writes, one flush at a time. $1 run_id, $2 after, $3 limit.
-- No row locks. Reads run_logs_run (run_id, id).
select id, stream, data
from run_logs
where run_id = $1 and id > $2
order by id
limit $3
