-- The workflow scenario's figures for workflow run $1: per step with parents, the milliseconds from
-- its last parent's end to its own start (database timestamps: the parent's finish transaction and
-- the child's claim), and the workflow run's own start-to-end time. No row locks.
select s.name,
       (extract(epoch from (c.started_at - max(p.finished_at))) * 1000)::float8 as lag_ms,
       (select (extract(epoch from (w.finished_at - w.created_at)) * 1000)::float8
        from workflow_runs w where w.id = $1) as total_ms
from workflow_steps s
join runs c on c.id = s.run_id
join workflow_edges e on e.child_run_id = s.run_id
join runs p on p.id = e.parent_run_id
where s.workflow_run_id = $1
group by s.name, c.started_at
