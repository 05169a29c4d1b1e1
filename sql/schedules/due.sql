-- The leader's batch of due schedules: not paused, of a batch or workflow job that is not deleted, whose
-- next look is due, earliest first, with the instant the decisions use (the database's clock, so
-- that replicas' clocks never matter). $1 now (nullable), $2 batch size, $3 true to read only the
-- schedules whose fire may be prepared ahead of its time (policy `allow` of a batch job: its outcome
-- does not depend on the runs active at the fire time, and its run is written by the fire statement
-- alone), with $1 the fire time prepared for.
-- Row locks: the schedule rows (for update, skip locked): a schedule being edited waits for the
-- next pass rather than holding the leader up.
select s.job_id, s.cron, s.time_zone, s.starting_deadline_seconds, s.after_at,
       coalesce($1::timestamptz, now()) as now
from schedules s
join jobs j on j.id = s.job_id and j.deleted_at is null and j.kind in ('batch', 'workflow')
where not s.paused and s.next_fire_at <= coalesce($1::timestamptz, now())
  and (not $3 or (s.policy = 'allow' and j.kind = 'batch'))
order by s.next_fire_at
limit $2
for update of s skip locked
