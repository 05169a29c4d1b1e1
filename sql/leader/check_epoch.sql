-- Fencing check at the start of every leader write transaction: returns the current epoch and
-- holds a share lock on the leader row until commit, so a takeover (which updates that row)
-- cannot interleave with the write. Row locks: FOR SHARE on the leader row.
select epoch from leader where id = 1 for share
