drop view worker_use;
drop view user_running;
drop view namespace_use;
