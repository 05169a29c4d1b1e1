-- Sharing between users inside a namespace's queues (issue 18, docs/state_machine.md, "Sharing
-- between users"). 'fifo' (the default, and every namespace's order until now): each priority's
-- queued runs in queue order. 'fair': users take turns, by their runs admitted or running in the
-- namespace plus their runs queued before (scheduler/admission/fair.rs).
alter table namespaces add column sharing text not null default 'fifo'
    constraint namespaces_sharing_known check (sharing in ('fifo', 'fair'));

-- The oldest queued runs of each (user, service) of a namespace and priority: a skip scan over
-- the pairs with queued runs, then each pair's oldest runs. Its cost grows with the pairs, not
-- with their backlogs: one user's 100,000 queued runs cost one index descent. Two reads use it:
-- a fair namespace's snapshot (admission/snapshot.sql), and a notification-driven cycle's read
-- past users held by their own cap (admission/queued_heads.sql).
-- One more index entry per queued run; legacy-flow runs are inserted admitted and never enter it.
create index runs_queued_user on runs (namespace, priority, user_id, service, enqueued_at, id)
    where state = 'queued' and namespace is not null;
