-- The search's first tiers (`GET /api/v1/jobs?q=`, store/lists.rs, docs/jobs.md "Search and list
-- plans"): the stored jobs whose name equals `q` (exact) or starts with it (prefix),
-- case-insensitive. A btree over the lowered name in the "C" collation, so that a prefix is a
-- range (`lower(name) collate "C" > lower(q) and < lower(q) || U+10FFFF`) whatever the database's
-- collation, and equality reads the name's jobs by id. Partial like jobs_stored, jobs_stored_name_trgm
-- and jobs_stored_tags: the one-off jobs uploads create never enter it (an upload writes no entry),
-- and stored jobs are written rarely. No index on runs.
create index jobs_stored_name_lower on jobs ((lower(name) collate "C"), id) where not one_off and deleted_at is null;
