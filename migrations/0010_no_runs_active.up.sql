-- runs_active (namespace, user_id, service, for admitted and running runs) goes: every claim and
-- every admission wrote an entry of three text columns into it, and the ledger can read the same
-- runs through the two partial indexes the claim path keeps anyway, runs_admitted and
-- runs_running_worker. Measured on 20,000-run burn-downs, back to back with and without it
-- (docs/benchmarks.md, change 17): legacy 85-91 -> 77-78 and priority 146-148 -> 128-132 busy
-- CPU µs per run.
--
-- Reading admitted runs through runs_admitted and running runs through runs_running_worker is
-- the same set as `state in ('admitted', 'running')` only if every admitted run has its
-- admission time and every running run its worker. Every statement already writes them so (the
-- claim needs the first); the constraints make it a rule.
alter table runs add constraint runs_admitted_has_time check (state <> 'admitted' or admitted_at is not null);
alter table runs add constraint runs_running_has_worker check (state <> 'running' or worker_id is not null);

-- The quota use per namespace, through the two indexes (it read runs_active per namespace).
create or replace view namespace_use as
select n.name, n.cpu_limit, n.memory_limit, n.pods_limit, n.storage_limit,
       coalesce(sum(r.cpu), 0)::bigint as used_cpu, coalesce(sum(r.memory), 0)::bigint as used_memory,
       coalesce(sum(r.pods), 0)::bigint as used_pods, coalesce(sum(r.storage), 0)::bigint as used_storage
from namespaces n
left join ((select namespace, cpu, memory, pods, storage
            from runs where state = 'admitted' and admitted_at is not null)  -- runs_admitted
           union all
           (select namespace, cpu, memory, pods, storage
            from runs where state = 'running' and worker_id is not null)  -- runs_running_worker
          ) r on r.namespace = n.name
group by n.name;

-- Unused since the admission snapshot reads its ledger in one scan (admission/snapshot.sql).
drop view user_running;

drop index runs_active;
