-- How many of a job's runs are active (queued, waiting, admitted or running). $1 job id.
-- No row locks (the delete re-checks nothing: a run started meanwhile is cancelled only with
-- cancel_runs, and otherwise keeps running to its end).
select count(*)::bigint from runs where job_id = $1 and state in ('queued', 'waiting', 'admitted', 'running')
