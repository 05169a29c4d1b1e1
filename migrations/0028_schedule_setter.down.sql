-- Back to fires checked only when a schedule is set: a refused fire is recorded as skipped (it
-- started nothing).
update schedule_fires set outcome = 'skipped' where outcome = 'refused';
alter table schedule_fires drop constraint schedule_fires_outcome_check;
alter table schedule_fires add constraint schedule_fires_outcome_check
    check (outcome in ('started', 'skipped', 'missed', 'replaced'));

alter table schedules
    drop column set_by_groups,
    drop column set_by;
