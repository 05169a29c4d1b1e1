drop index jobs_stored_name_lower;
