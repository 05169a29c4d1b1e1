-- Retention (issue 14): the leader cleans finished runs older than the retention period and
-- deletes the rows of cleaned runs after a second, longer one, in small batches, oldest first.
--
-- Each phase reads its runs through a partial index that holds only the runs it looks for, so
-- neither reads past the runs it leaves alone. Claims and admissions never write into them: a run
-- enters runs_finished when it finishes (one more index entry per finished run, the only cost on
-- the hot path) and runs_cleaned when the leader cleans it. Both require finished_at (the guard
-- the statements name; CONTRIBUTING, tests/store_plans.rs).
create index runs_finished on runs (finished_at, id)
    where state in ('succeeded', 'failed', 'timed_out', 'cancelled', 'aborted') and finished_at is not null;
create index runs_cleaned on runs (finished_at, id) where state = 'cleaned' and finished_at is not null;

-- Deleting a blob first unsets the references of jobs that do not keep it (one-off and deleted
-- jobs); this finds them without reading every job. Jobs are written once per upload and rarely
-- after, and the index holds only jobs with files.
create index jobs_input_blob on jobs (input_blob_id) where input_blob_id is not null;
