-- Sharing between users inside a namespace's queues (issue 18, docs/state_machine.md, "Sharing
-- between users"). 'fifo' (the default, and every namespace's order until now): each priority's
-- queued runs in queue order. 'fair': users take turns, the one with the fewest runs admitted or
-- running in the namespace first.
alter table namespaces add column sharing text not null default 'fifo'
    constraint namespaces_sharing_known check (sharing in ('fifo', 'fair'));

-- Each user's oldest queued runs of a namespace and priority, for the read of a fair namespace
-- (admission/snapshot.sql): a skip scan over the users with queued runs, then each one's oldest
-- runs. Its cost grows with the users, not with their backlogs: one user's 100,000 queued
-- runs cost the read one index descent. One more index entry per queued run; legacy-flow runs are
-- inserted admitted and never enter it.
create index runs_queued_user on runs (namespace, priority, user_id, enqueued_at, id)
    where state = 'queued' and namespace is not null;
