-- Deletes orphan blobs among the ids after $1 up to $1 + $2: created before $3 and used by nothing
-- (no run, no stored job that is not deleted), at most $4 of them, unsetting the references of
-- one-off and deleted jobs first. A blob is written in the transaction that references it, so an
-- orphan is what a reference dropped since left behind (a job's files replaced), or a write from
-- before this rule. Returns how many and how many bytes it deleted, the last id it deleted (null:
-- none), and the largest blob id (where a sweep ends).
-- $1 after id, $2 window (ids), $3 created before (timestamptz), $4 most blobs.
-- Row locks: the blob rows it deletes and the job rows whose reference it unsets.
-- Called inside a fenced leader transaction.
with scanned as materialized (
    select id from blobs where id > $1 and id <= $1 + $2 and created_at < $3
), used as materialized (
    -- One scan of runs for the whole window (a hashed filter); jobs through jobs_input_blob.
    select unnest(array[r.input_blob_id, r.result_blob_id]) as id
    from runs r
    where r.input_blob_id in (select id from scanned) or r.result_blob_id in (select id from scanned)
    union
    select j.input_blob_id
    from jobs j
    where j.input_blob_id in (select id from scanned) and j.input_blob_id is not null
      and not j.one_off and j.deleted_at is null
), orphans as materialized (
    select s.id from scanned s
    where s.id not in (select id from used where id is not null)
    order by s.id
    limit $4
), unreferenced as (
    update jobs j set input_blob_id = null
    from orphans o
    where j.input_blob_id = o.id and j.input_blob_id is not null  -- jobs_input_blob
    returning 1
), gone as (
    delete from blobs b using orphans o where b.id = o.id
    returning b.id, b.size
)
select (select count(*) from gone) as blobs,
       (select coalesce(sum(size), 0) from gone)::bigint as bytes,
       (select max(id) from gone) as last_id,
       (select coalesce(max(id), 0) from blobs) as max_id
