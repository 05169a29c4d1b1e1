-- When the oldest finished run that is not cleaned finished (null: none). No parameters.
-- No row locks. Reads the first entry of the partial index runs_finished.
select min(finished_at)
from runs
where state in ('succeeded', 'failed', 'timed_out', 'cancelled', 'aborted') and finished_at is not null
