-- A queue of :runs no-op runs of one service, as the legacy flow leaves them (state admitted) or,
-- with :queued = true, as the priority flow does (state queued), one worker with room for all of
-- them, and the narrow queue table the `narrow` and `graphile` designs read (not berth's schema:
-- this experiment's own). Empties berth's tables first: a throw-away database only.
-- psql variables: runs, queued (true | false).
truncate runs, jobs, run_events, attempts, blobs, blob_chunks, workers cascade;
drop table if exists design_ready;
insert into namespaces (name, cpu_limit, memory_limit, pods_limit, storage_limit)
values ('default', 1000000, 1000000000, 1000000, 100000000) on conflict (name) do nothing;
insert into workers (id, name, services, cpu, memory, pods, storage)
values (1, 'designs', '{default}', 1000000, 1000000000, 1000000, 100000000);
with j as (
    insert into jobs (name, service, namespace, user_id, priority, flow, cpu, memory, pods, storage, max_attempts,
                      created_at, updated_at, created_by, one_off)
    select 'designs', 'default', 'default', 'u' || (g % 50), 'normal',
           case when :queued then 'priority' else 'legacy' end, 1, 1, 0, 0, 1, now(), now(), 'u' || (g % 50), true
    from generate_series(1, :runs) g
    returning id, user_id, flow, created_at
)
insert into runs (job_id, user_id, service, namespace, priority, flow, cpu, memory, pods, storage, state,
                  enqueued_at, admitted_at, max_attempts, triggered_by)
select id, user_id, 'default', 'default', 'normal', flow, 1, 1, 0, 0,
       case when :queued then 'queued' else 'admitted' end, created_at,
       case when :queued then null else created_at end, 1, 'api'
from j;
-- The narrow queue: the columns a claim filters and orders by, and the claim's own.
create table design_ready (
    run_id bigint primary key, admitted_at timestamptz not null, service text not null,
    cpu bigint not null, memory bigint not null, pods bigint not null, storage bigint not null,
    worker_id bigint, attempt_id bigint, started_at timestamptz
);
create index design_ready_free on design_ready (admitted_at, run_id) where worker_id is null;
insert into design_ready (run_id, admitted_at, service, cpu, memory, pods, storage)
select id, admitted_at, service, cpu, memory, pods, storage from runs where state = 'admitted';
vacuum analyze runs, jobs, design_ready;
checkpoint;
