drop table schedule_fires;
drop table schedules;
