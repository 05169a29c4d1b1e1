-- A job moved to the legacy flow takes its queued and waiting runs out of admission at once (the
-- seed's fix for a job that blocks its queue): queued ones are admitted on the spot, each with its
-- event. $1 job id, $2 actor, $3 now (nullable). Row locks: those run rows (update).
with moved as (
    update runs set flow = 'legacy', state = case when state = 'queued' then 'admitted' else state end,
                    admitted_at = case when state = 'queued' then coalesce($3::timestamptz, now()) else admitted_at end,
                    head_since = null, block = null
    where job_id = $1 and flow = 'priority' and state in ('queued', 'waiting')
    returning id, state, admitted_at
), events as (
    insert into run_events (run_id, at, kind, actor, message)
    select id, admitted_at, 'admitted', $2, 'its job moved to the legacy flow: admitted without admission checks'
    from moved where state = 'admitted'
)
select count(*)::bigint from moved
