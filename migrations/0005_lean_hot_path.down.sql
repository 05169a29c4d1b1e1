alter table run_events drop constraint run_events_pkey;
alter table run_events add constraint run_events_pkey primary key (id);
create index run_events_run on run_events (run_id, id);
create index runs_worker on runs (worker_id) where state = 'running';
alter table runs add constraint runs_worker_id_fkey foreign key (worker_id) references workers (id);
alter table run_events add constraint run_events_run_id_fkey foreign key (run_id) references runs (id) on delete cascade;
alter table attempts add constraint attempts_worker_id_fkey foreign key (worker_id) references workers (id);
alter table attempts add constraint attempts_run_id_fkey foreign key (run_id) references runs (id) on delete cascade;
