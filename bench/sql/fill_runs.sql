-- One slice of the `lists` scenario's finished runs: slice $1 of $2, over the jobs that
-- fill_jobs.sql made ($3 jobs, $4 of them stored), $5 runs in all. Each one-off job has its one
-- run, enqueued when the job was created (as an upload does); the other $5 - ($3 - $4) runs are
-- runs of stored jobs, spread evenly over the same span of time, each of a stored job created
-- before it (drawn uniformly from them by a hash, so the oldest jobs have the most runs). Slice k
-- holds the jobs and the stored runs of the k-th part of the span, and the ids are numbered in
-- enqueue order across slices (the runs before slice k are the one-off jobs before it plus its
-- stored runs before it), so newest first by id is newest first by time, as in a real table.
-- States: 85 % succeeded, 10 % failed, 2 % timed_out, 3 % cancelled before they started.
-- No attempts or events: the lists read neither. $6 end of the history, $7 its span in seconds,
-- $8 seed. Benchmark databases only. No row locks (inserts; the jobs are read).
with bounds as (
    select ($1::bigint - 1) * $3::bigint / $2::bigint as g_lo, $1::bigint * $3::bigint / $2::bigint as g_hi,
           ($1::bigint - 1) * ($5::bigint - $3::bigint + $4::bigint) / $2::bigint as b_lo,
           $1::bigint * ($5::bigint - $3::bigint + $4::bigint) / $2::bigint as b_hi,
           $5::bigint - $3::bigint + $4::bigint as b_all
), picked as (
    select j.id as job_id, j.created_at as t, 0 as kind, j.id as key
    from bounds, jobs j
    where j.id > bounds.g_lo and j.id <= bounds.g_hi and j.one_off
    union all
    select ((1 + (hashint8extended(n, $8::bigint + 10) & 9223372036854775807)
                 % greatest(1, (n * $3::bigint / bounds.b_all) * $4::bigint / $3::bigint)) * $3::bigint
            + $4::bigint - 1) / $4::bigint,
           $6::timestamptz - ($7::float8 * (1 - n::float8 / bounds.b_all)) * interval '1 second',
           1, n
    from bounds, generate_series(bounds.b_lo + 1, bounds.b_hi) n
), placed as (
    -- A run drawn before the first stored job existed waits for it (the first few stored runs).
    select j.id as job_id, greatest(p.t, j.created_at) as t, p.kind, p.key, j.user_id, j.service, j.namespace,
           j.priority, j.flow, j.cpu, j.memory, j.pods, j.storage, j.max_attempts, j.command
    from picked p
    join jobs j on j.id = p.job_id
), timed as (
    select p.*, bounds.g_lo - bounds.g_lo * $4::bigint / $3::bigint + bounds.b_lo
                + row_number() over (order by p.t, p.kind, p.key) as id
    from placed p, bounds
), hashed as (
    select t.*, t.t as enqueued_at, hashint8extended(t.id, $8::bigint + 11) & 9223372036854775807 as h
    from timed t
)
insert into runs (id, job_id, user_id, service, namespace, priority, flow, cpu, memory, pods, storage, state,
                  enqueued_at, admitted_at, started_at, finished_at, attempt, max_attempts, exit_code, message,
                  command, triggered_by)
select t.id, t.job_id, t.user_id, t.service, t.namespace, t.priority, t.flow, t.cpu, t.memory, t.pods, t.storage,
       s.state, t.enqueued_at,
       case when s.state <> 'cancelled' then t.enqueued_at + interval '300 milliseconds' end,
       case when s.state <> 'cancelled' then t.enqueued_at + interval '800 milliseconds' end,
       t.enqueued_at + (1 + t.h / 100 % 600) * interval '1 second',
       case when s.state = 'cancelled' then 0 else 1 end, t.max_attempts,
       case s.state when 'succeeded' then 0 when 'failed' then 1 end,
       case s.state when 'failed' then 'exit code 1' when 'timed_out' then 'timed out'
                    when 'cancelled' then 'cancelled by ' || t.user_id else '' end,
       t.command,
       case when t.kind = 0 then 'upload' else t.user_id end
from hashed t
cross join lateral (
    select case when t.h % 100 < 85 then 'succeeded' when t.h % 100 < 95 then 'failed'
                when t.h % 100 < 97 then 'timed_out' else 'cancelled' end as state
) s
order by t.id
