-- One namespace's quota (no use, no demand: what a submission checks). $1 name. No row locks.
select cpu_limit as cpu, memory_limit as memory, pods_limit as pods, storage_limit as storage
from namespaces
where name = $1
