-- One user's finished runs and the seconds from the first one's start to the last one's finish.
-- $1 user. No row locks.
select count(*) filter (where state = 'succeeded') as succeeded,
       extract(epoch from max(finished_at) - min(started_at))::float8 as seconds
from runs where user_id = $1
