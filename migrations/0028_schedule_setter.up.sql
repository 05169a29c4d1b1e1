-- Who set a schedule, so that each of a workflow's fires is checked again (docs/security.md): a
-- workflow's schedule starts its steps' jobs, which setting or resuming it required `run` on. A
-- fire whose setter no longer holds `run` on every step's job starts nothing and is recorded
-- `refused`.
--
-- `set_by` is the token subject that last set or resumed the schedule, with its groups; null when
-- an admin set it, auth was off, or it was set before this migration: such fires are not checked.
alter table schedules
    add column set_by        text,
    add column set_by_groups text[] not null default '{}';

alter table schedule_fires drop constraint schedule_fires_outcome_check;
alter table schedule_fires add constraint schedule_fires_outcome_check
    check (outcome in ('started', 'skipped', 'missed', 'replaced', 'refused'));
