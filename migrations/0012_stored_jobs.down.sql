drop table job_events;
alter table runs drop column input_blob_id, drop column command, drop column env, drop column timeout_seconds,
    drop column triggered_by;
drop index jobs_stored_name_trgm;
drop index jobs_stored;
drop index jobs_stored_name;
alter table jobs drop constraint jobs_name_length;
alter table jobs drop column description, drop column created_by, drop column updated_at, drop column one_off,
    drop column args, drop column deleted_at;
