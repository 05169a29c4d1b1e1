-- Which of the runs $1 (bigint[]) are running (on any worker): their folders on a worker's
-- scratch disk are in use. By primary key; the state is a join clause with the input.
-- No row locks.
select r.id
from unnest($1::bigint[]) as i (id)
join runs r on r.id = i.id and r.state = 'running'
