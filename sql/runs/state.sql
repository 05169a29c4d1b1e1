-- A run's state alone. $1 run_id. No row locks.
select state from runs where id = $1
