-- After the `lists` fill, which names its ids itself: the next job is $1 + 1 and the next run $2 + 1.
-- $1 jobs, $2 runs (each at least 1). No row locks.
select setval('jobs_id_seq', $1::bigint), setval('runs_id_seq', $2::bigint)
