drop function berth_job_allows(bigint, text, text, text, text[], text);
drop table namespace_grants;
drop table job_grants;
drop table tokens;
