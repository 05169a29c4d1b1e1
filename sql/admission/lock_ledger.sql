-- Opens an admission commit, in one statement: the fencing check (the current epoch, with FOR SHARE
-- on the leader row until commit, as leader/check_epoch.sql) and FOR UPDATE on the namespace rows
-- $1 the batch touches, in name order, so a quota change cannot interleave with the re-check.
-- The ledger is read by the next statement (admission/ledger.sql), which sees the quotas as locked.
select (select epoch from leader where id = 1 for share) as epoch,
       (select count(*) from (select 1 from namespaces where name = any($1::text[]) order by name for update) l)
           as locked
