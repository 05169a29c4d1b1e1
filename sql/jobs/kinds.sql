-- The kinds of the jobs among $1 (bigint[]) that exist, are not deleted and are stored jobs (a
-- workflow's steps): an upload's one-off job is left out, since retention drops its files with its
-- run and the job itself once its runs are gone.
-- Row locks: those job rows, FOR SHARE (a workflow start copies them; a delete waits for it).
select id, kind from jobs where id = any($1::bigint[]) and deleted_at is null and not one_off
for share
