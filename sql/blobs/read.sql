-- A blob's chunks in order. $1 blob_id. No row locks.
select data from blob_chunks where blob_id = $1 order by seq
