-- A fair namespace's queue as admission reads it, in one place (issue 18): the snapshot
-- (admission/snapshot.sql) and the queue view (runs/queue.sql) both call it, so the view shows the
-- runs the cycle walks. LANGUAGE sql and STABLE, so the planner inlines it into the calling
-- statement and plans it with it, as when this read was written in the snapshot (migration 0025):
-- `tests/store_plans.rs` checks the index descents it makes.
--
-- Each (user, service)'s oldest queued runs of namespace `ns` and priority `prio`, `n` split evenly
-- over at most `n` pairs (ceil(n / pairs) each), through runs_queued_user. A read in queue order
-- would show only the users with the oldest runs, and a fair walk needs every user's
-- (scheduler/admission/fair.rs). A skip scan: each step of the recursion descends to the next pair
-- after the last one and lands on that pair's oldest run (the index holds all it reads), so its
-- cost grows with the pairs, not with their backlogs. It visits at most 10 × n pairs, in
-- (user_id, service) order, and keeps the n whose oldest runs are the oldest: with more pairs
-- waiting than that, each pair's turn to be read comes as its oldest run ages.
--
-- Runs cooling down after a head timeout until after `at` are left out once each pair's runs are
-- read (admission reads none of them: admission/snapshot.sql says why): a pair whose oldest runs
-- cool down has fewer runs read until they cool, and no other pair has fewer. `at` = 'infinity'
-- keeps them (the queue view). Not inside the index reads: with that filter there, the generic
-- plan made while one user held nearly every queued run read each pair's runs through
-- runs_queued_namespace and filtered by pair, through that user's whole backlog for every pair
-- (`berth bench --scenario fairness`: snapshots up to 1.5 s, probes' p50 from 20 ms to 0.3–3.8 s).
create function berth_queued_fair(ns text, prio text, n bigint, at timestamptz) returns setof runs
language sql stable as $$
    with recursive pairs (user_id, service, enqueued_at, id) as (
        (select user_id, service, enqueued_at, id
         from runs
         where state = 'queued' and namespace is not null and namespace = ns and priority = prio
         order by user_id, service, enqueued_at, id limit 1)
        union all
        select next.user_id, next.service, next.enqueued_at, next.id
        from pairs
        cross join lateral (
            select r.user_id, r.service, r.enqueued_at, r.id
            from runs r
            where r.state = 'queued' and r.namespace is not null and r.namespace = ns
              and r.priority = prio and (r.user_id, r.service) > (pairs.user_id, pairs.service)
            order by r.user_id, r.service, r.enqueued_at, r.id limit 1
        ) next
    ), found as materialized (
        -- The recursion runs only as far as the inner LIMIT reads it.
        select user_id, service, enqueued_at, id
        from (select * from pairs limit 10 * n) visited
        order by enqueued_at, id
        limit n
    )
    select r.*
    from found f
    cross join lateral (
        select *
        from runs
        where state = 'queued' and namespace is not null and namespace = ns and priority = prio
          and user_id = f.user_id and service = f.service
          -- From the pair's oldest run on, in runs_queued_user's own key and order, which no other
          -- index gives (admission/queued_heads.sql reads each pair the same way). Ordered by
          -- (enqueued_at, id) alone, the generic plan made from statistics where one user held
          -- nearly every queued run sometimes read each pair through runs_queued_namespace and
          -- filtered by pair, through that user's whole backlog for every pair (`berth bench
          -- --scenario fairness`: probes' p50 20 ms in some runs, 0.2–0.3 s in others).
          and (user_id, service, enqueued_at, id) >= (f.user_id, f.service, f.enqueued_at, f.id)
        order by user_id, service, enqueued_at, id
        -- ceil(n / pairs): at least n runs in all when the pairs have them.
        limit (n + (select count(*) from found) - 1) / greatest(1, (select count(*) from found))
    ) r
    -- After each pair's read (a LIMIT keeps it out of the read): see above.
    where r.not_before is null or r.not_before <= at
$$;
