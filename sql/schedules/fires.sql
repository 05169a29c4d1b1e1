-- The latest fire times of a job with their outcome, newest first. $1 job id, $2 limit.
-- No row locks (reads the primary key backwards).
select fire_at, outcome, run_id, decided_at
from schedule_fires
where job_id = $1
order by fire_at desc
limit $2
