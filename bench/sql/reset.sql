-- Empties every table a benchmark writes, so each measurement starts from the same state. The
-- namespaces stay: the bench creates them once at its start (submissions never create one).
-- Destructive: `berth bench` only runs it on its own private database or an empty one.
-- No parameters. Takes ACCESS EXCLUSIVE locks on the tables.
truncate run_logs, run_events, attempts, runs, schedule_fires, schedules, job_events, jobs, blob_chunks, blobs, workers,
         workflow_edges, workflow_steps, workflow_runs
restart identity
