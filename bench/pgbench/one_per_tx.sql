-- One job per transaction: enqueue one, claim one (SKIP LOCKED), complete it. Each statement
-- commits on its own (pgbench autocommit), so one script run = one job through three commits.
insert into bench_jobs (state) values ('available');
with c as (
    select id from bench_jobs where state = 'available' order by id limit 1 for update skip locked
), u as (
    update bench_jobs j set state = 'running', worker = :client_id, started_at = now()
    from c where j.id = c.id returning j.id
)
select count(*) as claimed from u;
update bench_jobs set state = 'completed', finished_at = now() where worker = :client_id and state = 'running';
