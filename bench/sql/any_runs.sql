-- Whether the runs table holds anything (bench refuses to wipe a database in use). No row locks.
select exists (select 1 from runs)
