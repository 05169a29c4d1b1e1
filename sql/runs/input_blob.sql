-- The blob of a run's input files (null for a command without files). $1 run id. No row locks.
select input_blob_id from runs where id = $1
