drop index runs_queued_user;
alter table namespaces drop column sharing;
