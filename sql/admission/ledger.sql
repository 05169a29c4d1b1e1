-- What an admission commit re-checks against, read after admission/lock_ledger.sql in the same
-- transaction: the quota and use of the namespaces $1 (text[]), and the admitted and running runs
-- per (user, service). No row locks (the namespace rows are already locked).
select (select coalesce(json_agg(u order by u.name), '[]') from namespace_use u where u.name = any($1::text[]))
           as namespaces,
       (select coalesce(json_agg(r), '[]') from user_running r) as user_running
