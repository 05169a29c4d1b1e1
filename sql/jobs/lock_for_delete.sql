-- Locks a job that is not deleted before its delete counts its active runs: a start in flight
-- (which holds the row FOR SHARE) commits first, and none begins until the delete ends.
-- $1 job id. Row locks: the job row, FOR UPDATE.
select id from jobs where id = $1 and deleted_at is null for update
