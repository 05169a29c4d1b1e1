-- The edges of a workflow run by step name, parent first. $1 workflow run id. No row locks.
select p.name as parent, c.name as child
from workflow_steps c
join workflow_edges e on e.child_run_id = c.run_id
join workflow_steps p on p.run_id = e.parent_run_id
where c.workflow_run_id = $1
order by c.run_id, e.parent_run_id
