-- The latest successfully applied migration (the table is sqlx's). No row locks.
select max(version) from _sqlx_migrations where success
