-- Puts back the word similarity threshold the search set (search_threshold.sql) before the
-- connection returns to the pool. No parameters. No row locks.
reset pg_trgm.word_similarity_threshold
