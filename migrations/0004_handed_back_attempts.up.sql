-- Attempts handed back by a draining worker are not the job's fault either: count them apart so
-- they do not use up the job's own attempts.
alter table runs add column handed_back_attempts integer not null default 0;
