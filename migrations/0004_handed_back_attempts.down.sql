alter table runs drop column if exists handed_back_attempts;
