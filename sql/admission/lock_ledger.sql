-- Opens an admission commit, in one statement: the fencing check (the current epoch, with FOR SHARE
-- on the leader row until commit, as leader/check_epoch.sql), FOR UPDATE on the namespace rows $1
-- (text[]) the batch touches, in name order, so that a quota change cannot interleave with the
-- re-check, and the ledger the re-check reads: each locked namespace's quota and use, and the
-- admitted and running runs of the batch's (user, service) pairs, $2 users text[] and
-- $3 services text[] (element-wise).
-- The quotas come from the locked rows themselves: FOR UPDATE returns a row's latest committed
-- version (after waiting for a concurrent change), not the statement's snapshot. The use comes from
-- the snapshot; only this leader adds to it (legacy inserts aside, which admission never checks),
-- and what finished meanwhile only makes it higher than it is: the re-check never overcommits.
with locked as materialized (
    select name, cpu_limit, memory_limit, pods_limit, storage_limit
    from namespaces where name = any($1::text[]) order by name for update
)
select (select epoch from leader where id = 1 for share) as epoch,
       (select coalesce(json_agg(json_build_object(
                   'name', l.name, 'cpu_limit', l.cpu_limit, 'memory_limit', l.memory_limit,
                   'pods_limit', l.pods_limit, 'storage_limit', l.storage_limit,
                   'used_cpu', u.used_cpu, 'used_memory', u.used_memory, 'used_pods', u.used_pods,
                   'used_storage', u.used_storage) order by l.name), '[]')
        from locked l join namespace_use u on u.name = l.name) as namespaces,
       (select coalesce(json_agg(r), '[]') from user_running r
        where (r.user_id, r.service) in (select * from unnest($2::text[], $3::text[]))) as user_running
