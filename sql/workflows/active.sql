-- The running workflow runs of a workflow job (a `replace` schedule fire cancels them).
-- $1 job id. No row locks (workflows/lock_steps.sql and workflows/cancel.sql take them).
select id from workflow_runs where job_id = $1 and state = 'running' order by id
