-- The `placement` design's admission: the leader's commit does what the claim does (queued ->
-- running on the worker it chose, a fencing token per run, admitted and started at once), under
-- the same fencing check and namespace locks as sql/admission/admit.sql (without its quota
-- re-check, which the `priority` design's admit.sql is given nothing to refuse either).
-- $1 run ids, $2 epoch, $3 namespaces, $4 worker_id.
with fence as materialized (
    select epoch from leader where id = 1 for update
), locked as materialized (
    select n.name from namespaces n
    where n.name = any($3::text[]) and (select epoch from fence) = $2
    order by n.name
    for update of n
), placed as (
    update runs r
    set state = 'running', admitted_at = now(), started_at = now(), worker_id = $4, attempt = r.attempt + 1,
        attempt_id = nextval('attempts_id_seq'), head_since = null, block = null
    where id = any($1::bigint[]) and state = 'queued' and exists (select from locked)
    returning id
)
select count(*), pg_notify('berth_placed', '') from placed
