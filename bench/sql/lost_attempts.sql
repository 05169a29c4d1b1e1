-- Attempts lost to the infrastructure (dead workers, retryable executor errors: for the http
-- executor, a run its node lost) over the runs in the table, and how many runs had any.
select coalesce(sum(lost_attempts), 0)::bigint as attempts,
       count(*) filter (where lost_attempts > 0) as runs
from runs
