-- Writes one chunk of a blob. $1 blob_id, $2 seq, $3 data. No row locks.
insert into blob_chunks (blob_id, seq, data) values ($1, $2, $3)
