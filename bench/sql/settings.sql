-- The server version and the settings that decide a queue's speed, printed with the figures.
-- No parameters. No row locks.
select name, setting || coalesce(unit, '') as value
from pg_settings
where name in ('server_version', 'fsync', 'synchronous_commit', 'full_page_writes', 'wal_level',
               'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'work_mem', 'max_connections',
               'plan_cache_mode', 'autovacuum', 'jit')
order by name
