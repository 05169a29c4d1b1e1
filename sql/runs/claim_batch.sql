-- Claims admitted runs for one worker: the oldest admissions of its services that fit, together, in
-- its free capacity. Starts an attempt per run with a new fencing token (drawn from
-- attempts_id_seq), in one statement. The run's own row is the record of the start (and of the
-- scheduler's admission) until the attempt ends: its attempt_id, attempt, worker_id, started_at and
-- admitted_at; the attempt's row is written with its end (migration 0024). The view attempts_seen
-- and the timeline (run_events/list.sql) read the running attempt from here.
-- $1 worker_id, $2 services text[], $3 free cpu, $4 free memory, $5 free pods, $6 free storage,
-- $7 most runs to claim, $8 now (nullable), $9 largest input (bytes) returned inline,
-- $10 floor: skip runs admitted before it (nullable: scan from the oldest).
-- Row locks: FOR UPDATE SKIP LOCKED on the candidates, so concurrent workers never wait on each other.
-- Why a floor: every claimed run leaves a dead entry at the old end of `runs_admitted` until
-- vacuum, and a scan from the oldest end walks all of them. A floor (the oldest admission the
-- worker's previous claim found) starts the index scan past them; see worker/claim_floor.rs.
with candidates as materialized (
    -- MATERIALIZED: the locking scan runs exactly once, with its LIMIT, before anything joins it.
    select id, cpu, memory, pods, storage, admitted_at
    from runs
    where state = 'admitted' and admitted_at is not null
      and admitted_at >= coalesce($10::timestamptz, '-infinity')
      and service = any($2::text[])
      and cpu <= $3 and memory <= $4 and pods <= $5 and storage <= $6
    order by admitted_at, id
    limit $7
    for update skip locked
), fitting as (
    -- Running totals in claim order: keep the prefix that fits as a whole. Rows locked but not kept
    -- are released at commit and stay admitted for the next worker.
    select id from (
        select id,
               sum(cpu) over w as cpu, sum(memory) over w as memory,
               sum(pods) over w as pods, sum(storage) over w as storage
        from candidates
        window w as (order by admitted_at, id)
    ) totals
    where cpu <= $3 and memory <= $4 and pods <= $5 and storage <= $6
), claimed as (
    update runs r
    -- The start is when this statement's transaction began (now(), as a claim's start has always
    -- been), but never before the admission it claims: the transaction can begin before that
    -- admission commits (its snapshot is taken later, at execution), and a start must never
    -- precede its admission on the timeline. Either way an instant while the claim ran.
    set state = 'running', worker_id = $1, started_at = coalesce($8::timestamptz, greatest(now(), r.admitted_at)),
        -- The sequence by name, not pg_get_serial_sequence(): that one resolves it per row
        -- (measured: 6 of 39 ms for a claim of 1,000 runs).
        attempt = r.attempt + 1, attempt_id = nextval('attempts_id_seq')
    from fitting f
    where r.id = f.id
    returning r.id, r.job_id, r.attempt, r.attempt_id, r.started_at, r.admitted_at, r.flow, r.cpu, r.memory, r.pods, r.storage,
              r.service, r.max_attempts, r.retry_backoff_seconds, r.retry_backoff_max_seconds, r.lost_attempts,
              r.lost_attempts + r.handed_back_attempts as excused_attempts,
              r.input_blob_id, r.command, r.env, r.timeout_seconds,
              r.restart, r.submission_failures, r.execution_failures, r.workflow_run_id
)
select c.id, c.attempt, c.attempt_id, c.admitted_at, c.cpu, c.memory, c.pods, c.storage,
       c.service, c.max_attempts, c.retry_backoff_seconds, c.retry_backoff_max_seconds, c.lost_attempts,
       c.excused_attempts,
       -- The run's own copy of its payload: editing the job never changes a run already started.
       c.input_blob_id, c.command, c.env, c.timeout_seconds,
       -- A streaming run's restart policy and its failures so far (null for batch runs).
       c.restart, c.submission_failures, c.execution_failures,
       -- A workflow step: the worker adds its parents' results (docs/workflows.md).
       c.workflow_run_id,
       -- Inputs that fit one chunk come with the claim: no second round trip per run.
       case when b.size = 0 then ''::bytea
            when b.size <= $9 then (select data from blob_chunks where blob_id = b.id and seq = 0) end as input_inline
from claimed c
left join blobs b on b.id = c.input_blob_id
order by c.id
