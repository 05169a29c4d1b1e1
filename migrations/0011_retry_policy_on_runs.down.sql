alter table runs drop column retry_backoff_seconds, drop column retry_backoff_max_seconds;
alter table jobs drop column retry_backoff_seconds, drop column retry_backoff_max_seconds;
