-- Rows and on-disk bytes (tables with their indexes and TOAST) of what retention bounds, for the
-- `retention` scenario's time series. No parameters. No row locks.
select (select count(*) from runs) as runs,
       (select count(*) from runs where state = 'cleaned') as cleaned,
       (select count(*) from run_events) as events,
       (select count(*) from blobs) as blobs,
       (select coalesce(sum(size), 0) from blobs)::bigint as blob_bytes,
       pg_total_relation_size('runs') as runs_disk,
       pg_total_relation_size('run_events') + pg_total_relation_size('attempts') as history_disk,
       pg_total_relation_size('blob_chunks') + pg_total_relation_size('blobs') as blobs_disk
