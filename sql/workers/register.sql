-- Registers a worker with its capacity and services. $1 name, $2 services text[], $3 cpu,
-- $4 memory, $5 pods, $6 storage, $7 now (nullable). No row locks.
insert into workers (name, services, cpu, memory, pods, storage, started_at, heartbeat_at)
values ($1, $2, $3, $4, $5, $6, coalesce($7::timestamptz, now()), coalesce($7::timestamptz, now()))
returning id
