-- Opens an admission commit, in one statement: the fencing check (the current epoch, with FOR SHARE
-- on the leader row until commit, as leader/check_epoch.sql) and FOR UPDATE on the namespace rows
-- $1 (text[]) the batch touches, in name order, so that a quota change cannot interleave with the
-- re-check. Returns the epoch and the locked namespaces' quotas.
-- The quotas come from the locked rows themselves: FOR UPDATE returns a row's latest committed
-- version (after waiting for a concurrent change), not the statement's snapshot.
-- The use is not read again: the re-check takes it from the cycle's snapshot. Between the two only
-- this leader adds to it (its own admissions, which the cycle counts as it goes; a takeover
-- changes the epoch and fails this check), and what finished meanwhile only makes the snapshot's
-- figure higher than it is: the re-check never overcommits. Legacy-flow runs are admitted on
-- insert and never checked, here or anywhere. Reading the use again cost a scan of every admitted
-- and running run per commit (measured: 10 ms per commit with 3,000 in flight).
with locked as materialized (
    select name, cpu_limit, memory_limit, pods_limit, storage_limit
    from namespaces where name = any($1::text[]) order by name for update
)
select (select epoch from leader where id = 1 for share) as epoch,
       (select coalesce(json_agg(l order by l.name), '[]') from locked l) as namespaces
