-- Starts a new leadership term: bumps the fencing epoch. Runs on the leader's connection right
-- after winning the advisory lock. $1 holder name, $2 now (nullable). Row locks: the leader row.
update leader set epoch = epoch + 1, holder = $1, elected_at = coalesce($2::timestamptz, now())
where id = 1
returning epoch, wrr_high, wrr_normal
