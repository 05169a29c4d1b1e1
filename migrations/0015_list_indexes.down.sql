drop index jobs_stored_tags;
create index runs_job_old on runs (job_id);
drop index runs_job;
alter index runs_job_old rename to runs_job;
