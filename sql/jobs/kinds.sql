-- The kinds of the jobs among $1 (bigint[]) that exist and are not deleted (a workflow's steps).
-- Row locks: those job rows, FOR SHARE (a workflow start copies them; a delete waits for it).
select id, kind from jobs where id = any($1::bigint[]) and deleted_at is null
for share
