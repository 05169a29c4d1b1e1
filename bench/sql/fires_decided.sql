-- How many fire times have been decided (any outcome). Progress of the `schedules` scenario.
-- No parameters. No row locks.
select count(*) from schedule_fires
