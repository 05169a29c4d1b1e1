-- The workflow jobs among $1 whose schedule may not start them now: its setter (whoever last set or
-- resumed it; migration 0028) no longer holds `run` on every step's job, as setting it required.
-- A schedule set by an admin, with auth off, or before migration 0028 names no setter and is not
-- checked. A step whose job is gone is not this statement's: the start refuses the definition.
-- $1 workflow job ids. No row locks.
select s.job_id
from schedules s
join jobs w on w.id = s.job_id
where s.job_id = any($1::bigint[]) and s.set_by is not null
  and exists (
      select 1
      from jsonb_array_elements(coalesce(w.steps, '[]'::jsonb)) st
      join jobs j on j.id = (st ->> 'job')::bigint
      where not berth_job_allows(j.id, j.namespace, j.created_by, s.set_by, s.set_by_groups, 'run'))
