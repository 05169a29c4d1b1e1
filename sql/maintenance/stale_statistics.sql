-- Whether the planner's statistics of the runs table are stale: more rows changed since its last
-- analyze than $1 rows and $2 (a fraction) of its live rows. Autovacuum gets there too, but only
-- once a minute at best: a fresh or just-emptied queue that fills up in seconds would be planned
-- meanwhile as if it were empty (a claim that sorts the whole queue instead of reading the head).
-- $1 minimum changed rows, $2 fraction of live rows. Reads statistics views only; no row locks.
select coalesce((
    select n_mod_since_analyze > greatest($1::bigint, $2::float8 * n_live_tup)
    from pg_stat_user_tables
    where relid = 'runs'::regclass
), false) as stale
