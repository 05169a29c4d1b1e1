-- Two list indexes the lists benchmark (berth bench --scenario lists, docs/jobs.md) asked for, at no
-- cost to the hot path:
-- - a job's runs, newest first, without sorting all of them: runs_job on (job_id, id) replaces
--   (job_id), the same number of index writes per run;
-- - labels of stored jobs (`?tag=key=value`): a GIN index that upload jobs never enter.
create index runs_job_id on runs (job_id, id);
drop index runs_job;
alter index runs_job_id rename to runs_job;

create index jobs_stored_tags on jobs using gin (tags jsonb_path_ops) where not one_off and deleted_at is null;
