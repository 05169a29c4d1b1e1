-- The oldest queued runs of one namespace and priority, leaving out the users at their per-user
-- cap: read when the snapshot's read of that queue was full and held a capped user's runs, so the
-- runs of other users queued behind a capped backlog are seen (scheduler/admission/capped.rs).
-- $1 namespace, $2 priority, $3 limit, $4 capped users, $5 their services (same order), $6 now
-- (the snapshot's): runs cooling down after a head timeout are left out, as the snapshot leaves them.
-- Walks runs_queued_namespace in queue order, skipping the capped users' runs: the cost grows with
-- the capped backlog ahead of the first other run, and is paid only while a capped user's runs
-- fill the read, by the once-per-tick cycle; the other cycles read each other pair's two oldest
-- runs past the snapshot's cut only (admission/queued_heads.sql). No row locks: the leader is the
-- only writer of queued runs' admission.
select id, user_id, service, namespace, priority, cpu, memory, pods, storage, enqueued_at,
       head_since, head_retries, not_before
from runs
where state = 'queued' and namespace is not null and namespace = $1 and priority = $2
  and (not_before is null or not_before <= $6)
  and not exists (select 1 from unnest($4::text[], $5::text[]) as c(user_id, service)
                  where c.user_id = runs.user_id and c.service = runs.service)
order by enqueued_at, id
limit $3
