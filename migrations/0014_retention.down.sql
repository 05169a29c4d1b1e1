drop index jobs_input_blob;
drop index runs_cleaned;
drop index runs_finished;
