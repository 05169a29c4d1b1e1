drop index runs_streaming_active;
alter table runs
    drop column restart,
    drop column submission_attempts,
    drop column execution_attempts,
    drop column submission_failures,
    drop column execution_failures;
alter table jobs drop column restart;
