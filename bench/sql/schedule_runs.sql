-- Runs started by schedules, and the most any one job got: the `schedules` scenario checks that
-- each job fired once. No parameters. No row locks.
select count(*) as runs, coalesce(max(n), 0) as most_per_job
from (select job_id, count(*) as n from runs where triggered_by = 'schedule' group by job_id) j
