-- The `graphile` design's end, graphile-worker's own: the queue row deleted, no history kept.
-- $1 run ids, $2 attempt ids.
delete from design_ready q using unnest($1::bigint[], $2::bigint[]) f (run_id, attempt_id)
where q.run_id = f.run_id and q.attempt_id = f.attempt_id
