-- Operator query: one run's timeline. psql -v run=42 -f sql/inspect/timeline.sql
select at, kind, actor, message, details from run_events where run_id = :run order by id;
