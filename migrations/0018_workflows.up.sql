-- Workflows (issue 15): a job of kind `workflow` whose steps are jobs with depends_on edges. Starting
-- it creates one workflow run and one run per step; a step waits (state `waiting`, no `not_before`)
-- until its parents succeeded. docs/workflows.md tells the whole story.
alter table jobs drop constraint jobs_kind_check;
alter table jobs add constraint jobs_kind_check check (kind in ('batch', 'streaming', 'workflow'));
-- A workflow's steps as the client set them: [{"name", "job", "depends_on": [..]}]; null for the
-- other kinds.
alter table jobs add column steps jsonb;

-- One start of a workflow job. The counters are kept by workflow_step_ended() below, so that the
-- workflow run ends in the transaction in which its last step ends.
create table workflow_runs (
    id               bigserial   primary key,
    job_id           bigint      not null,
    namespace        text        not null,
    user_id          text        not null,
    state            text        not null default 'running'
                                 check (state in ('running', 'succeeded', 'failed', 'cancelled')),
    steps_total      integer     not null check (steps_total > 0),
    steps_left       integer     not null check (steps_left >= 0),
    steps_succeeded  integer     not null default 0,
    steps_failed     integer     not null default 0,
    steps_cancelled  integer     not null default 0,
    cancel_requested boolean     not null default false,
    triggered_by     text        not null,
    created_at       timestamptz not null default now(),
    finished_at      timestamptz
);
create index workflow_runs_job on workflow_runs (job_id, id);

-- A run that is a step of a workflow run. `pending_parents` counts the parents that have not
-- succeeded yet: the step's run is released (waiting -> queued) when it reaches 0. `end_reason`
-- says why the step was cancelled by the workflow (`upstream_failed`, `workflow_cancelled`).
-- No foreign keys to runs: a foreign key adds a check to every update and delete of runs (the hot
-- path); retention deletes these rows with their runs (runs/delete_cleaned.sql).
create table workflow_steps (
    run_id          bigint  primary key,
    workflow_run_id bigint  not null references workflow_runs (id),
    name            text    not null,
    pending_parents integer not null check (pending_parents >= 0),
    end_reason      text,
    unique (workflow_run_id, name)
);

-- The dependency edges between the step runs, keyed by the parent: releasing or cancelling the
-- children of a run that ended reads exactly its own edges (a range of the primary key).
create table workflow_edges (
    parent_run_id bigint not null,
    child_run_id  bigint not null,
    primary key (parent_run_id, child_run_id)
);
-- A child reads its parents' results when it starts (the worker's parents/ folders).
create index workflow_edges_child on workflow_edges (child_run_id);

-- The workflow run a step's run belongs to. No index: runs are never read by it (the workflow's
-- steps are read through workflow_steps), and an index on runs costs every run an entry per update.
alter table runs add column workflow_run_id bigint;

-- What follows the end of a step. It runs in the transaction (and at the end of the statement)
-- that ends the step, whichever path ends it: the worker's finish (one or batched), a cancel, a
-- rescue that gives up, a head timeout, a replaced schedule, a deleted job. A trigger rather than a
-- statement in each of those paths, so that no path, present or future, can forget it; the
-- trigger's WHEN clause keeps it off every run that is not a step (its cost there: one null test).
--
-- Work done: proportional to the step's children. A success decrements each child's
-- pending_parents (its edges: a range of workflow_edges_pkey; each child by workflow_steps_pkey)
-- and queues the children that reach 0 (by runs_pkey). A failure, timeout, abort or cancellation
-- cancels the waiting descendants (`upstream_failed`), walking the edges below the step only; the
-- descendants it cancels are marked with their end_reason, so their own trigger does not walk again.
-- Waiting runs are never scanned.
create function workflow_step_ended() returns trigger language plpgsql as $$
declare
    ended_at timestamptz := coalesce(new.finished_at, now());
    step     workflow_steps%rowtype;
    ready    bigint[];
    doomed   bigint[];
    frontier bigint[];
    queued   bigint := 0;
    direct   bigint := 0;
begin
    select * into step from workflow_steps where run_id = new.id;
    if not found then
        return null;
    end if;
    if new.state = 'succeeded' then
        -- Rows are locked in ascending id order (step runs' ids are drawn in topological order, so
        -- parents before children), the order the workflow cancel locks in too: two steps ending
        -- at once, or a step ending during a cancel, cannot deadlock on shared children.
        perform 1 from workflow_steps s
        where s.run_id in (select e.child_run_id from workflow_edges e where e.parent_run_id = new.id)
        order by s.run_id
        for update;
        with children as (
            update workflow_steps s set pending_parents = s.pending_parents - 1
            from workflow_edges e
            where e.parent_run_id = new.id and s.run_id = e.child_run_id
            returning s.run_id, s.pending_parents
        )
        select array_agg(run_id order by run_id) into ready from children where pending_parents = 0;
        if ready is not null then
            perform 1 from runs where id = any(ready) order by id for update;
            with released as (
                update runs r
                set state = case when r.flow = 'legacy' then 'admitted' else 'queued' end,
                    admitted_at = case when r.flow = 'legacy' then ended_at end
                where r.id = any(ready) and r.state = 'waiting'
                returning r.id, r.state
            ), events as (
                insert into run_events (run_id, at, kind, actor, message, details)
                select id, ended_at, 'released', 'workflow',
                       'its parents succeeded (the last: step ' || step.name || ', run ' || new.id || ')',
                       jsonb_build_object('parent_run_id', new.id, 'parent_step', step.name)
                from released
            )
            select count(*) filter (where state = 'queued'), count(*) filter (where state = 'admitted')
            into queued, direct from released;
            if queued > 0 then
                perform pg_notify('berth_queued', '');
            end if;
            if direct > 0 then
                perform pg_notify('berth_admitted', '');
            end if;
        end if;
    elsif step.end_reason is null then
        -- Ended without success, not by the workflow itself: no waiting descendant can ever run.
        -- Only the edges below this step are walked; the descendants cancelled here are marked,
        -- so that their own trigger does not walk again.
        -- Level by level, each level one lookup of its parents' edges by the primary key (a
        -- recursive CTE was planned as a scan of every edge).
        frontier := array[new.id];
        loop
            select array_agg(distinct e.child_run_id) into frontier
            from workflow_edges e where e.parent_run_id = any(frontier);
            exit when frontier is null;
            doomed := coalesce(doomed, '{}') || frontier;
        end loop;
        if doomed is not null then
            perform 1 from runs where id = any(doomed) and state = 'waiting' order by id for update;
            with cancelled as (
                update runs r
                set state = 'cancelled', finished_at = ended_at, head_since = null,
                    message = 'upstream_failed: step ' || step.name || ' (run ' || new.id || ') ended ' || new.state
                where r.id = any(doomed) and r.state = 'waiting'
                returning r.id, r.message
            ), marked as (
                update workflow_steps s set end_reason = 'upstream_failed'
                from cancelled c where s.run_id = c.id
            )
            insert into run_events (run_id, at, kind, actor, message, details)
            select id, ended_at, 'cancelled', 'workflow', message,
                   jsonb_build_object('reason', 'upstream_failed', 'parent_run_id', new.id, 'parent_step', step.name)
            from cancelled;
        end if;
    end if;
    update workflow_runs w
    set steps_left = w.steps_left - 1,
        steps_succeeded = w.steps_succeeded + (new.state = 'succeeded')::int,
        steps_failed = w.steps_failed + (new.state in ('failed', 'timed_out', 'aborted'))::int,
        steps_cancelled = w.steps_cancelled + (new.state = 'cancelled')::int,
        -- docs/workflows.md: the state that summarises the steps.
        state = case when w.steps_left - 1 > 0 then w.state
                     when w.cancel_requested then 'cancelled'
                     when w.steps_succeeded + (new.state = 'succeeded')::int = w.steps_total then 'succeeded'
                     when w.steps_failed + (new.state in ('failed', 'timed_out', 'aborted'))::int > 0 then 'failed'
                     else 'cancelled' end,
        finished_at = case when w.steps_left - 1 = 0 then ended_at end
    where w.id = step.workflow_run_id and w.state = 'running';
    return null;
end;
$$;

create trigger runs_workflow_step_ended
    after update of state on runs
    for each row
    when (new.workflow_run_id is not null
          and new.state in ('succeeded', 'failed', 'timed_out', 'cancelled', 'aborted')
          and old.state in ('waiting', 'queued', 'admitted', 'running'))
    execute function workflow_step_ended();
