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
-- after the last one and lands on that pair's oldest run not cooling down (the index holds the
-- key; `not_before` is read from the run's row), so its cost grows with the pairs, not with their
-- backlogs. Reading `not_before` there cost nothing measurable: the snapshot took 21–22 ms with
-- and without it, reading 1,000 of 40,000 queued runs of 1,000 users (12 ms reading 100). It
-- visits at most 10 × n pairs, in (user_id, service) order, and keeps the n whose oldest runs are
-- the oldest: with more pairs waiting than that, each pair's turn to be read comes as its oldest
-- run ages.
--
-- Runs cooling down after a head timeout until after `at` are left out (admission reads none of
-- them: admission/snapshot.sql says why); `at` = 'infinity' keeps them (the queue view).
create function berth_queued_fair(ns text, prio text, n bigint, at timestamptz) returns setof runs
language sql stable as $$
    with recursive pairs (user_id, service, enqueued_at, id) as (
        (select user_id, service, enqueued_at, id
         from runs
         where state = 'queued' and namespace is not null and namespace = ns and priority = prio
           and (not_before is null or not_before <= at)
         order by user_id, service, enqueued_at, id limit 1)
        union all
        select next.user_id, next.service, next.enqueued_at, next.id
        from pairs
        cross join lateral (
            select r.user_id, r.service, r.enqueued_at, r.id
            from runs r
            where r.state = 'queued' and r.namespace is not null and r.namespace = ns
              and r.priority = prio and (r.user_id, r.service) > (pairs.user_id, pairs.service)
              and (r.not_before is null or r.not_before <= at)
            order by r.user_id, r.service, r.enqueued_at, r.id limit 1
        ) next
    ), found as materialized (
        -- The recursion runs only as far as the inner LIMIT reads it.
        select user_id, service
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
          and (not_before is null or not_before <= at)
        order by enqueued_at, id
        -- ceil(n / pairs): at least n runs in all when the pairs have them.
        limit (n + (select count(*) from found) - 1) / greatest(1, (select count(*) from found))
    ) r
$$;
