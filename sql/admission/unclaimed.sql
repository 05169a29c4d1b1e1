-- Admitted runs no worker has claimed yet: they will take room on some worker, so the pool
-- capacity check subtracts them first. No row locks.
select service, cpu, memory, pods, storage from runs where state = 'admitted' and admitted_at is not null order by admitted_at, id
