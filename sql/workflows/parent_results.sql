-- The parents of a step's run: each parent step's name and its result blob. $1 the child's run id.
-- No row locks.
select p.name, r.result_blob_id
from workflow_edges e
join workflow_steps p on p.run_id = e.parent_run_id
join runs r on r.id = e.parent_run_id
where e.child_run_id = $1
order by p.name
