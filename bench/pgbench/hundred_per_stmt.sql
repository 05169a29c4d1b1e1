-- 100 jobs per statement: enqueue 100, claim 100 (SKIP LOCKED), complete them. One script run
-- = 100 jobs through three commits, so jobs/s = 100 x the tps pgbench reports.
insert into bench_jobs (state) select 'available' from generate_series(1, 100);
with c as (
    select id from bench_jobs where state = 'available' order by id limit 100 for update skip locked
), u as (
    update bench_jobs j set state = 'running', worker = :client_id, started_at = now()
    from c where j.id = c.id returning j.id
)
select count(*) as claimed from u;
update bench_jobs set state = 'completed', finished_at = now() where worker = :client_id and state = 'running';
