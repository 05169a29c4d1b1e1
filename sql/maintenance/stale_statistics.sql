-- Whether the planner's picture of the runs table is stale: it was never analyzed and holds more
-- than $1 rows, or it holds more than $2 times the rows the planner believes (pg_class.reltuples,
-- at least $1). Autovacuum gets there too, but only once a minute at best: a fresh or just-emptied
-- queue that fills up in seconds would be planned meanwhile as if it were empty (a claim that sorts
-- the whole queue instead of reading its head). State changes alone never trigger it: they do not
-- change what the plans depend on once the table has statistics.
-- $1 minimum rows, $2 growth factor. Reads statistics views only; no row locks.
select coalesce((
    select s.n_live_tup > $1::bigint
           and (coalesce(s.last_analyze, s.last_autoanalyze) is null
                or s.n_live_tup > $2::float8 * greatest(c.reltuples, $1::float8))
    from pg_stat_user_tables s
    join pg_class c on c.oid = s.relid
    where s.relid = 'runs'::regclass
), false) as stale
