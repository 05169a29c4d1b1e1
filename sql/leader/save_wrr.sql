-- Persists the WRR credits after a cycle. $1 high, $2 normal, $3 epoch. Row locks: the leader row.
update leader set wrr_high = $1, wrr_normal = $2 where id = 1 and epoch = $3
