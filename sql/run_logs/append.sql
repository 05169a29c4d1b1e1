-- Appends log chunks of one attempt; writes nothing unless $2 is still the run's fencing token and
-- the run is running. $1 run_id, $2 attempt_id, $3 streams text[], $4 chunks bytea[].
-- No row locks (a read of the run row).
insert into run_logs (run_id, attempt_id, stream, data)
select $1, $2, chunk.stream, chunk.data
from unnest($3::text[], $4::bytea[]) as chunk (stream, data)
where exists (select 1 from runs where id = $1 and attempt_id = $2 and state = 'running')
